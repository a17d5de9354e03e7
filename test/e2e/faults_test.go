//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

// The webhook timeouts of config/webhook/webhooks.yaml: a write passes the
// mutating webhook, then the gate and lint in parallel.
const (
	gateTimeout   = 5 * time.Second
	mutateTimeout = 3 * time.Second
	// kubectlSlack covers kubectl's own start, discovery and round trips on
	// a loaded two-core machine.
	kubectlSlack = 5 * time.Second
	// answerBound is the longest one kubectl write may take: every webhook
	// on its path timing out, plus kubectl itself. Anything longer is a hang.
	answerBound = mutateTimeout + gateTimeout + kubectlSlack
)

// outcome is how the API server answered one kubectl write.
type outcome string

const (
	wasAdmitted    outcome = "admitted"    // exit 0
	wasDenied      outcome = "denied"      // a webhook denied it with a reason
	wasUnreachable outcome = "unreachable" // a Fail webhook could not be called
	wasIndefinite  outcome = "indefinite"  // anything else: a hang, a crash, a client error
)

// answer is one kubectl write with its timing.
type answer struct {
	what          string
	res           harness.Result
	outcome       outcome
	start, finish time.Time
}

func (a answer) took() time.Duration { return a.finish.Sub(a.start) }

func (a answer) String() string {
	return fmt.Sprintf("%s: %s after %s (exit %d) %s", a.what, a.outcome, a.took().Round(time.Millisecond), a.res.Code, strings.TrimSpace(a.res.Stderr))
}

// write runs one kubectl write bounded well past answerBound, so a hang is
// reported as one rather than stalling the suite.
func write(ctx context.Context, what, stdin string, args ...string) answer {
	ctx, cancel := context.WithTimeout(ctx, 4*answerBound)
	defer cancel()
	a := answer{what: what, start: time.Now()}
	a.res = env.Run(ctx, stdin, args...)
	a.finish = time.Now()
	switch {
	case a.res.Code == 0:
		a.outcome = wasAdmitted
	case a.res.Code == 1 && strings.Contains(a.res.Stderr, "failed calling webhook"):
		a.outcome = wasUnreachable
	case a.res.Code == 1 && strings.Contains(a.res.Stderr, "denied the request"):
		a.outcome = wasDenied
	default:
		a.outcome = wasIndefinite
	}
	GinkgoWriter.Println(a.String())
	return a
}

// serveControl stops and starts `canarygate serve` for one spec and
// restarts it when the spec ends with it stopped, so later specs find it up.
type serveControl struct {
	mu   sync.Mutex
	down bool
}

func newServeControl() *serveControl {
	c := &serveControl{}
	DeferCleanup(func(ctx SpecContext) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			Expect(env.StartServe(ctx)).To(Succeed())
			c.down = false
		}
	}, NodeTimeout(2*time.Minute))
	return c
}

// stop sends SIGTERM and returns once the process has exited.
func (c *serveControl) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	return env.StopServe()
}

// start returns once canarygate is ready again.
func (c *serveControl) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := env.StartServe(ctx); err != nil {
		return err
	}
	c.down = false
	return nil
}

// webhookAddr is canarygate's HTTPS address.
func webhookAddr() string {
	o := env.Env.WebhookInstallOptions
	return net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
}

// portOpen reports whether canarygate's webhook port accepts connections.
func portOpen() bool {
	c, err := net.DialTimeout("tcp", webhookAddr(), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// webhookConfigs are the webhook configurations config/webhook ships.
var webhookConfigs = []string{"validatingwebhookconfiguration/canarygate-validating", "mutatingwebhookconfiguration/canarygate-mutating"}

// trustedCAs is what the API server trusts for canarygate now: the
// caBundle of the gate webhook.
func trustedCAs(ctx context.Context) *x509.CertPool {
	GinkgoHelper()
	b64 := get(ctx, "", webhookConfigs[0], "{.webhooks[0].clientConfig.caBundle}")
	raw, err := base64.StdEncoding.DecodeString(b64)
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(raw)).To(BeTrue(), "caBundle holds no certificate")
	return pool
}

// directClient posts to canarygate as the API server does, over a new TLS
// connection per request (every request is a handshake).
func directClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: gateTimeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

// switchReview is the AdmissionReview the API server sends the gate for
// switching model-svc in ns to model-v2, built from the Service as it is.
func switchReview(ctx context.Context, ns, uid string) []byte {
	GinkgoHelper()
	var old map[string]any
	Expect(json.Unmarshal([]byte(succeed(ctx, "get", "service", "model-svc", "-n", ns, "-o", "json").Stdout), &old)).To(Succeed())
	raw, err := json.Marshal(old)
	Expect(err).NotTo(HaveOccurred())
	var obj map[string]any
	Expect(json.Unmarshal(raw, &obj)).To(Succeed())
	obj["spec"].(map[string]any)["selector"] = map[string]any{"serving.kserve.io/inferenceservice": "model-v2"}
	kind := map[string]any{"group": "", "version": "v1", "kind": "Service"}
	res := map[string]any{"group": "", "version": "v1", "resource": "services"}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": uid, "kind": kind, "resource": res, "requestKind": kind, "requestResource": res,
			"name": "model-svc", "namespace": ns, "operation": "UPDATE",
			"userInfo": map[string]any{"username": harness.User, "groups": []string{"system:masters", "system:authenticated"}},
			"object":   obj, "oldObject": old,
		},
	})
	Expect(err).NotTo(HaveOccurred())
	return body
}

// reviewAnswer decodes the AdmissionReview canarygate answered.
type reviewAnswer struct {
	Response *struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
		Status  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

func (r reviewAnswer) String() string {
	if r.Response == nil {
		return "no response"
	}
	if r.Response.Status == nil {
		return fmt.Sprintf("uid=%s allowed=%v", r.Response.UID, r.Response.Allowed)
	}
	return fmt.Sprintf("uid=%s allowed=%v code=%d %s", r.Response.UID, r.Response.Allowed, r.Response.Status.Code, r.Response.Status.Message)
}

// apiserverMetric sums the kube-apiserver counter name over the series
// whose labels mention canarygate's webhooks and every fragment given.
func apiserverMetric(ctx context.Context, name string, fragments ...string) float64 {
	GinkgoHelper()
	out := succeed(ctx, "get", "--raw", "/metrics").Stdout
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
series:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, "canarygate.io") {
			continue
		}
		for _, f := range fragments {
			if !strings.Contains(line, f) {
				continue series
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		Expect(err).NotTo(HaveOccurred(), line)
		total += v
	}
	return total
}

// webhookFailures counts, in the kube-apiserver, calls to canarygate's
// webhooks that failed: fail-open webhooks skipped, and writes rejected
// because a webhook could not be called.
func webhookFailures(ctx context.Context) float64 {
	GinkgoHelper()
	return apiserverMetric(ctx, "apiserver_admission_webhook_fail_open_count") +
		apiserverMetric(ctx, "apiserver_admission_webhook_rejection_count", `error_type="calling_webhook_error"`)
}

// canaryWeights are the weights the load alternates between, all within
// max_unverified_weight, so the gate allows each.
var canaryWeights = []int{10, 20, 30, 40}

// canaryManifest renders the namespace's copy of the step-3b canary at a
// weight, marked with the attempt number so that every apply is a real
// write (kubectl sends nothing for an unchanged object). Goroutines call
// it: it asserts nothing.
type canaryManifest func(weight, attempt int) string

// canaries returns the canaryManifest of a namespace.
func canaries(ns string) canaryManifest {
	GinkgoHelper()
	raw, err := os.ReadFile(manifest(ns, "scenario/03b-canary-weight.yaml"))
	Expect(err).NotTo(HaveOccurred())
	const weight, annotations = `    nginx.ingress.kubernetes.io/canary-weight: "20"`, "  annotations:\n"
	Expect(string(raw)).To(ContainSubstring(weight), "the step-3b fixture no longer sets canary-weight \"20\"")
	Expect(string(raw)).To(ContainSubstring(annotations))
	return func(w, attempt int) string {
		out := strings.Replace(string(raw), weight, fmt.Sprintf(`    nginx.ingress.kubernetes.io/canary-weight: "%d"`, w), 1)
		return strings.Replace(out, annotations, fmt.Sprintf("%s    example.com/attempt: \"%d\"\n", annotations, attempt), 1)
	}
}

// releaseAtStep3b applies the reference release up to the weighted canary.
func releaseAtStep3b(ctx context.Context, ns string) {
	GinkgoHelper()
	applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "scenario/00-isvc-model-v2.yaml",
		"scenario/01-services.yaml", "scenario/02-ingress.yaml", "scenario/03b-canary-weight.yaml")
}

const selectorV1 = `{"serving.kserve.io/inferenceservice":"model-v1"}`

var _ = Describe("faults around canarygate serve", Serial, func() {
	It("answers every apply while it restarts, never lets a switch through while down, and recovers by itself", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		serve := newServeControl()
		releaseAtStep3b(ctx, ns)
		switchFile := manifest(ns, "scenario/04-switch.yaml")
		// Writes the gate does not cover: a Service that selects no model
		// (lint and mutate only) and a ConfigMap (no webhook at all).
		succeed(ctx, "create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080")
		succeed(ctx, "create", "configmap", "settings", "-n", ns, "--from-literal=step=0")

		canary := canaries(ns)
		const iterations, stopAt, startAt = 60, 20, 40
		var (
			answers              []answer
			stopErr, startErr    error
			stopped, started     = make(chan struct{}), make(chan struct{})
			stopIssued, downFrom time.Time
			startIssued, upFrom  time.Time
			lastWeight           = 20
		)
		for i := range iterations {
			switch i {
			case stopAt:
				By("stopping canarygate serve (SIGTERM) while the applies go on")
				stopIssued = time.Now()
				go func() { stopErr = serve.stop(); close(stopped) }()
			case startAt:
				<-stopped
				Expect(stopErr).NotTo(HaveOccurred())
				if downFrom.IsZero() {
					downFrom = time.Now()
				}
				Expect(portOpen()).To(BeFalse(), "canarygate still listens after it exited")
				By("writing what the gate does not cover while canarygate is down")
				failOpenBefore := apiserverMetric(ctx, "apiserver_admission_webhook_fail_open_count")
				for _, a := range []answer{
					write(ctx, "annotate a Service that selects no model", "", "annotate", "service", "web", "-n", ns, "example.com/step=down", "--overwrite"),
					write(ctx, "update a ConfigMap", "", "patch", "configmap", "settings", "-n", ns, "--type=merge", "-p", `{"data":{"step":"down"}}`),
					write(ctx, "change model-v1's spec only", "", "patch", "inferenceservice", "model-v1", "-n", ns, "--type=merge",
						"-p", `{"spec":{"predictor":{"model":{"storageUri":"gs://kfserving-examples/models/sklearn/1.0/model-b"}}}}`),
				} {
					Expect(a.outcome).To(Equal(wasAdmitted), "%s", a)
					Expect(a.took()).To(BeNumerically("<", answerBound), "%s", a)
				}
				// lint and mutate were called and failed open: the API
				// server counts every skipped call.
				Expect(apiserverMetric(ctx, "apiserver_admission_webhook_fail_open_count")).To(BeNumerically(">=", failOpenBefore+4),
					"lint and mutate should each have failed open on the Service and the InferenceService writes")

				By("starting canarygate serve again while the applies go on")
				startIssued = time.Now()
				go func() { startErr = serve.start(ctx); upFrom = time.Now(); close(started) }()
			}
			if i > stopAt && downFrom.IsZero() {
				// The first few applies race the shutdown; from
				// stopAt+4 on the loop waits for the exit, so the rest
				// until startAt are certainly made while it is down.
				if i == stopAt+4 {
					<-stopped
				}
				select {
				case <-stopped:
					downFrom = time.Now()
				default:
				}
			}
			if i%2 == 0 {
				w := canaryWeights[(i/2)%len(canaryWeights)]
				a := write(ctx, fmt.Sprintf("#%d canary weight %d", i, w), canary(w, i), "apply", "-n", ns, "-f", "-")
				answers = append(answers, a)
				if a.outcome == wasAdmitted {
					lastWeight = w
				}
				continue
			}
			a := write(ctx, fmt.Sprintf("#%d switch to unverified model-v2", i), "", "apply", "-n", ns, "-f", switchFile)
			answers = append(answers, a)
			Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(selectorV1), "after %s", a)
		}
		<-started
		Expect(startErr).NotTo(HaveOccurred())

		By("checking every answer")
		phase := func(a answer) string {
			switch {
			case a.start.After(downFrom) && a.finish.Before(startIssued):
				return "down"
			case a.finish.Before(stopIssued) || a.start.After(upFrom):
				return "up"
			}
			return "stopping or starting"
		}
		phases := map[string]map[outcome]int{"up": {}, "down": {}, "stopping or starting": {}}
		for _, a := range answers {
			phases[phase(a)][a.outcome]++
		}
		GinkgoWriter.Printf("answers by phase: %v\n", phases)
		var down, up int
		for _, a := range answers {
			Expect(a.outcome).NotTo(Equal(wasIndefinite), "%s", a)
			Expect(a.took()).To(BeNumerically("<", answerBound), "%s took longer than every webhook timeout on its path", a)
			switch phase(a) {
			case "down":
				// The gate fails closed on both, quickly (connection
				// refused, not a timeout).
				down++
				Expect(a.outcome).To(Equal(wasUnreachable), "%s", a)
				Expect(a.res.Stderr).To(ContainSubstring(`failed calling webhook "gate-`), "%s", a)
				Expect(a.took()).To(BeNumerically("<", gateTimeout+kubectlSlack), "%s", a)
			case "up":
				up++
				if strings.Contains(a.what, "switch") {
					Expect(a.outcome).To(Equal(wasDenied), "%s", a)
					Expect(a.res.Stderr).To(ContainSubstring(denied("gate-services.canarygate.io", "CG301")), "%s", a)
				} else {
					Expect(a.outcome).To(Equal(wasAdmitted), "%s", a)
				}
			}
		}
		Expect(down).To(BeNumerically(">=", startAt-stopAt-5), "too few applies while canarygate was down")
		Expect(up).To(BeNumerically(">=", stopAt), "too few applies while canarygate was up")

		By("proceeding after the restart without any manual step")
		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(selectorV1))
		Expect(canaryWeight(ctx, ns)(Default)).To(Equal(strconv.Itoa(lastWeight)))
		a := write(ctx, "canary weight 30 after the restart", canary(30, iterations), "apply", "-n", ns, "-f", "-")
		Expect(a.outcome).To(Equal(wasAdmitted), "%s", a)
		a = write(ctx, "switch after the restart", "", "apply", "-n", ns, "-f", switchFile)
		Expect(a.res.Stderr).To(ContainSubstring(denied("gate-services.canarygate.io", "CG301")), "%s", a)
		markReady(ctx, ns, "model-v1")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		Expect(succeed(ctx, "apply", "-n", ns, "-f", switchFile).Stdout).To(ContainSubstring("service/model-svc configured"))
	}, NodeTimeout(8*time.Minute))

	It("on SIGTERM reports not ready before it closes the port, and finishes the requests in flight", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		serve := newServeControl()
		releaseAtStep3b(ctx, ns)
		markReady(ctx, ns, "model-v1")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		pool := trustedCAs(ctx)

		By("opening a request to the gate and sending half of it")
		// The switch to the verified model-v2 is allowed only after the
		// gate has read model-v2 live and evaluated the policies, so the
		// answer shows whether the request was served in full.
		body := switchReview(ctx, ns, "in-flight-1")
		conn, err := tls.Dial("tcp", webhookAddr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close() }()
		half := len(body) / 2
		_, err = fmt.Fprintf(conn, "POST /validate/gate?timeout=5s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", webhookAddr(), len(body))
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Write(body[:half])
		Expect(err).NotTo(HaveOccurred())

		By("running a stream of applies through the API server")
		canary := canaries(ns)
		var (
			stream   []answer
			streamMu sync.Mutex
			stopFlow atomic.Bool
			flowDone = make(chan struct{})
		)
		go func() {
			defer GinkgoRecover()
			defer close(flowDone)
			for n := 0; n < 200 && !stopFlow.Load(); n++ {
				w := canaryWeights[n%len(canaryWeights)]
				a := write(ctx, fmt.Sprintf("stream #%d canary weight %d", n, w), canary(w, n), "apply", "-n", ns, "-f", "-")
				streamMu.Lock()
				stream = append(stream, a)
				streamMu.Unlock()
			}
		}()
		Eventually(func() int { streamMu.Lock(); defer streamMu.Unlock(); return len(stream) }).
			WithContext(ctx).WithTimeout(time.Minute).Should(BeNumerically(">=", 2))

		By("sending SIGTERM and watching readiness and the port")
		stopStarted := time.Now()
		stopped := make(chan error, 1)
		go func() { stopped <- serve.stop() }()
		var notReadyAt, closedAt time.Time
		notReadyWhileOpen := false
		Eventually(func(g Gomega) {
			now := time.Now()
			open := portOpen()
			if !open && closedAt.IsZero() {
				closedAt = now
			}
			if notReadyAt.IsZero() {
				code, body := readyz(env.ReadyURL + "/shutdown")
				if code == http.StatusInternalServerError && strings.Contains(body, "shutting down") {
					notReadyAt = now
					notReadyWhileOpen = open && portOpen()
				}
			}
			g.Expect(closedAt).NotTo(BeZero())
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
		Expect(notReadyAt).NotTo(BeZero(), "readiness never reported \"shutting down\" before the port closed")
		Expect(notReadyAt).To(BeTemporally("<", closedAt))
		Expect(notReadyWhileOpen).To(BeTrue(), "readiness went false only once the port was closed")
		GinkgoWriter.Printf("SIGTERM +%s: not ready; +%s: port closed\n", notReadyAt.Sub(stopStarted).Round(time.Millisecond), closedAt.Sub(stopStarted).Round(time.Millisecond))

		By("finishing the request that was in flight when the port closed")
		_, err = conn.Write(body[half:])
		Expect(err).NotTo(HaveOccurred())
		Expect(conn.SetReadDeadline(time.Now().Add(gateTimeout))).To(Succeed())
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		Expect(err).NotTo(HaveOccurred(), "the in-flight request was cut")
		raw, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "%s", raw)
		var rev reviewAnswer
		Expect(json.Unmarshal(raw, &rev)).To(Succeed(), "%s", raw)
		Expect(rev.Response).NotTo(BeNil(), "%s", raw)
		Expect(rev.Response.UID).To(Equal("in-flight-1"))
		Expect(rev.Response.Allowed).To(BeTrue(), "the in-flight switch to the verified model-v2 got %s", rev)

		By("exiting by itself")
		Expect(<-stopped).To(Succeed())
		Expect(time.Since(stopStarted)).To(BeNumerically("<", 9*time.Second), "canarygate did not exit before the harness's SIGKILL at 10 s")
		stopFlow.Store(true)
		<-flowDone

		By("checking the stream: every apply got a definite answer in time")
		streamMu.Lock()
		defer streamMu.Unlock()
		counts := map[outcome]int{}
		for _, a := range stream {
			counts[a.outcome]++
			Expect(a.outcome).To(Or(Equal(wasAdmitted), Equal(wasUnreachable)), "%s", a)
			Expect(a.took()).To(BeNumerically("<", answerBound), "%s", a)
			if a.finish.Before(stopStarted) {
				Expect(a.outcome).To(Equal(wasAdmitted), "%s", a)
			}
		}
		GinkgoWriter.Printf("stream during SIGTERM: %v\n", counts)
		Expect(counts[wasAdmitted]).To(BeNumerically(">=", 2))
	}, NodeTimeout(5*time.Minute))

	It("rotates its serving certificate under load without a failed handshake or webhook call", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		releaseAtStep3b(ctx, ns)
		certDir := env.Env.WebhookInstallOptions.LocalServingCertDir
		oldBundle, err := base64.StdEncoding.DecodeString(get(ctx, "", webhookConfigs[0], "{.webhooks[0].clientConfig.caBundle}"))
		Expect(err).NotTo(HaveOccurred())

		// envtest keeps no CA key (its caBundle is the serving certificate
		// itself), so the rotation brings a new CA: trust old and new
		// first, then swap the files, then drop the old trust.
		By("issuing a new CA and serving certificate, and trusting both CAs")
		caPEM, certPEM, keyPEM, leaf := newServingCert()
		setCABundle(ctx, append(append([]byte{}, oldBundle...), caPEM...))
		both := x509.NewCertPool()
		Expect(both.AppendCertsFromPEM(oldBundle)).To(BeTrue())
		Expect(both.AppendCertsFromPEM(caPEM)).To(BeTrue())

		failuresBefore := webhookFailures(ctx)
		var (
			stopLoad   atomic.Bool
			direct     atomic.Int64
			directErrs []string
			errsMu     sync.Mutex
			applies    []answer
			appliesMu  sync.Mutex
			wg         sync.WaitGroup
		)
		appliedCount := func() int { appliesMu.Lock(); defer appliesMu.Unlock(); return len(applies) }
		body := switchReview(ctx, ns, "rotation")
		canary := canaries(ns)
		wg.Add(2)
		go func() {
			// The API server's view: applies through every webhook.
			defer GinkgoRecover()
			defer wg.Done()
			for n := 0; n < 300 && !stopLoad.Load(); n++ {
				w := canaryWeights[n%len(canaryWeights)]
				a := write(ctx, fmt.Sprintf("rotation #%d canary weight %d", n, w), canary(w, n), "apply", "-n", ns, "-f", "-")
				appliesMu.Lock()
				applies = append(applies, a)
				appliesMu.Unlock()
			}
		}()
		go func() {
			// A client trusting both CAs, one handshake per request.
			defer GinkgoRecover()
			defer wg.Done()
			client := directClient(both)
			for n := 0; n < 20000 && !stopLoad.Load(); n++ {
				err := postReview(ctx, client, body, "rotation")
				direct.Add(1)
				if err != nil {
					errsMu.Lock()
					directErrs = append(directErrs, err.Error())
					errsMu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		Eventually(direct.Load).WithContext(ctx).WithTimeout(time.Minute).Should(BeNumerically(">=", 20))

		By("swapping tls.crt and tls.key in the serving-certificate directory")
		replaceFile(filepath.Join(certDir, "tls.key"), keyPEM)
		replaceFile(filepath.Join(certDir, "tls.crt"), certPEM)
		Eventually(func() ([]byte, error) { return servedCert(both) }).WithContext(ctx).
			WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Equal(leaf.Raw))
		// Keep the load on for a while with the new certificate: the
		// API server's pooled connections still carry the old one, new
		// connections the new one.
		pickedUp, appliedBefore := direct.Load(), appliedCount()
		Eventually(func() bool { return direct.Load() >= pickedUp+20 && appliedCount() >= appliedBefore+5 }).
			WithContext(ctx).WithTimeout(2 * time.Minute).Should(BeTrue())
		stopLoad.Store(true)
		wg.Wait()

		By("checking that no handshake and no webhook call failed")
		Expect(directErrs).To(BeEmpty())
		for _, a := range applies {
			Expect(a.outcome).To(Equal(wasAdmitted), "%s", a)
		}
		Expect(len(applies)).To(BeNumerically(">=", 5))
		Expect(webhookFailures(ctx)).To(Equal(failuresBefore), "the API server failed to call canarygate during the rotation")

		By("dropping the old CA: only the new certificate is trusted now")
		setCABundle(ctx, caPEM)
		newOnly := x509.NewCertPool()
		Expect(newOnly.AppendCertsFromPEM(caPEM)).To(BeTrue())
		Expect(postReview(ctx, directClient(newOnly), body, "rotation")).To(Succeed())
		// The API server picks the new caBundle up from its informer.
		Eventually(func() outcome {
			return write(ctx, "canary weight 40 with the new CA only", canary(40, -1), "apply", "-n", ns, "-f", "-").outcome
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(wasAdmitted))
		Expect(webhookFailures(ctx)).To(Equal(failuresBefore))
	}, NodeTimeout(6*time.Minute))

	It("completes the deletion of a namespace full of canaries while canarygate is up and while it is down, and never blocks the garbage collector", func(ctx SpecContext) {
		serve := newServeControl()
		up, down := newNamespace(ctx), newNamespace(ctx)
		for _, ns := range []string{up, down} {
			fullOfCanaries(ctx, ns)
		}

		By("deleting a namespace while canarygate is up")
		succeed(ctx, "delete", "namespace", up, "--wait=false")
		namespaceGone(ctx, up)

		By("deleting guarded objects through the garbage collector while canarygate is down")
		ownerUID := succeed(ctx, "create", "configmap", "release-owner", "-n", down, "-o", "jsonpath={.metadata.uid}").Stdout
		Expect(ownerUID).NotTo(BeEmpty())
		// model-v2-svc is guarded: canaries route to it (CG502 for a user).
		succeed(ctx, "patch", "service", "model-v2-svc", "-n", down, "--type=merge", "-p", fmt.Sprintf(
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"release-owner","uid":%q,"blockOwnerDeletion":true}]}}`, ownerUID))
		Expect(serve.stop()).To(Succeed())
		a := write(ctx, "a user deleting model-v2-svc while canarygate is down", "", "delete", "service", "model-v2-svc", "-n", down, "--wait=false")
		Expect(a.outcome).To(Equal(wasUnreachable), "%s", a)
		succeed(ctx, "delete", "configmap", "release-owner", "-n", down, "--cascade=foreground", "--wait=false")
		Eventually(func() string {
			return kubectl(ctx, "get", "configmap/release-owner", "service/model-v2-svc", "-n", down, "-o", "name").Stderr
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(And(
			ContainSubstring(`configmaps "release-owner" not found`), ContainSubstring(`services "model-v2-svc" not found`)))

		By("deleting a namespace while canarygate is down")
		succeed(ctx, "delete", "namespace", down, "--wait=false")
		namespaceGone(ctx, down)
		Expect(serve.start(ctx)).To(Succeed())
	}, NodeTimeout(8*time.Minute))
})

// fullOfCanaries applies the reference release with label-declared
// canaries, a predictor Service owned by model-v1, and five more main and
// canary route pairs, each canary taking 10% for model-v2.
func fullOfCanaries(ctx context.Context, ns string) {
	GinkgoHelper()
	applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "labels/03a-isvc-model-v2.yaml",
		"scenario/01-services.yaml", "scenario/02-ingress.yaml", "labels/03-canary-ingress.yaml")
	uid := get(ctx, ns, "inferenceservice/model-v1", "{.metadata.uid}")
	var docs []string
	docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: model-v1-predictor
  ownerReferences:
  - {apiVersion: serving.kserve.io/v1beta1, kind: InferenceService, name: model-v1, uid: %s, controller: true, blockOwnerDeletion: true}
spec:
  selector: {app: isvc.model-v1-predictor}
  ports: [{port: 80, targetPort: 8080}]`, uid))
	for i := 1; i <= 5; i++ {
		route := func(name, svc, ann string) string {
			return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s%s
spec:
  ingressClassName: nginx
  rules:
  - host: %s
    http:
      paths:
      - {path: /p%d, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}`, name, ann, hostOf(ns), i, svc)
		}
		docs = append(docs,
			route(fmt.Sprintf("main-%d", i), "model-svc", ""),
			route(fmt.Sprintf("canary-%d", i), "model-v2-svc", "\n  annotations: {nginx.ingress.kubernetes.io/canary: \"true\", nginx.ingress.kubernetes.io/canary-weight: \"10\"}"))
	}
	r := kubectlIn(ctx, strings.Join(docs, "\n---\n")+"\n", "apply", "-n", ns, "-f", "-")
	Expect(r.Code).To(Equal(0), r.Output())
	Expect(strings.Count(succeed(ctx, "get", "ingress", "-n", ns, "-o", "name").Stdout, "\n")).To(Equal(12))
}

// namespaceGone waits until kube-controller-manager has emptied and
// removed a namespace.
func namespaceGone(ctx context.Context, ns string) {
	GinkgoHelper()
	Eventually(func() string {
		return kubectl(ctx, "get", "namespace", ns, "-o", "name").Stderr
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(ContainSubstring(fmt.Sprintf(`namespaces %q not found`, ns)))
}

// postReview posts an AdmissionReview to the gate and checks the answer is
// one for uid.
func postReview(ctx context.Context, client *http.Client, body []byte, uid string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+webhookAddr()+"/validate/gate?timeout=5s", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var rev reviewAnswer
	if err := json.Unmarshal(raw, &rev); err != nil {
		return fmt.Errorf("HTTP %d %q is not an AdmissionReview: %w", resp.StatusCode, raw, err)
	}
	if resp.StatusCode != http.StatusOK || rev.Response == nil || rev.Response.UID != uid {
		return fmt.Errorf("HTTP %d %q is not an answer for %s", resp.StatusCode, raw, uid)
	}
	return nil
}

// servedCert is the DER certificate canarygate presents now.
func servedCert(pool *x509.CertPool) ([]byte, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", webhookAddr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0].Raw, nil
}

// setCABundle sets the caBundle of every webhook canarygate registers.
func setCABundle(ctx context.Context, bundle []byte) {
	GinkgoHelper()
	b64 := base64.StdEncoding.EncodeToString(bundle)
	for _, cfg := range webhookConfigs {
		n := len(strings.Fields(get(ctx, "", cfg, "{.webhooks[*].name}")))
		Expect(n).To(BeNumerically(">", 0))
		var ops []string
		for i := range n {
			ops = append(ops, fmt.Sprintf(`{"op":"replace","path":"/webhooks/%d/clientConfig/caBundle","value":%q}`, i, b64))
		}
		succeed(ctx, "patch", cfg, "--type=json", "-p", "["+strings.Join(ops, ",")+"]")
	}
}

// replaceFile writes data next to path and renames it into place, as a
// Secret volume update does, so no reader sees half a file.
func replaceFile(path string, data []byte) {
	GinkgoHelper()
	tmp := path + ".new"
	Expect(os.WriteFile(tmp, data, 0o600)).To(Succeed())
	Expect(os.Rename(tmp, path)).To(Succeed())
}

// newServingCert issues a CA and a serving certificate for the loopback
// names envtest's own certificate carries.
func newServingCert() (caPEM, certPEM, keyPEM []byte, leaf *x509.Certificate) {
	GinkgoHelper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "canarygate e2e rotation CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	ca, err := x509.ParseCertificate(caDER)
	Expect(err).NotTo(HaveOccurred())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "canarygate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP(env.Env.WebhookInstallOptions.LocalServingHost)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	leaf, err = x509.ParseCertificate(der)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), leaf
}
