package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// releaseNamespace is where the test plays the reference release; the
// webhooks judge it (it is neither kube-system nor canarygate's own).
const releaseNamespace = "deploy-test"

var _ = Describe("installing canarygate", func() {
	for _, r := range renderings(repoRoot()) {
		describeInstall(r)
	}
})

// describeInstall proves one rendering on its own control plane. The specs
// build on each other, in order.
func describeInstall(r rendering) {
	Describe(r.name, Ordered, func() {
		var (
			cp *controlPlane
			ca *authority
			in *install
			// srv is canarygate serve, once started.
			srv *server
			// serveKubeconfig acts as the rendered ServiceAccount.
			serveKubeconfig string
		)

		BeforeAll(func(ctx SpecContext) {
			var err error
			ca, err = newAuthority()
			Expect(err).NotTo(HaveOccurred())
			raw, err := r.render(ctx, ca)
			Expect(err).NotTo(HaveOccurred())
			in, err = parseInstall(raw)
			Expect(err).NotTo(HaveOccurred(), "the rendering:\n%s", raw)
			GinkgoWriter.Printf("%s: %d objects, server in %s as %s, certificate from Secret %s\n",
				r.name, len(in.objects), in.namespace, in.user, in.certSecret)

			cp, err = startControlPlane()
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				srv.stop()
				Expect(cp.stop()).To(Succeed())
			})
			serveKubeconfig, err = cp.impersonating(in.user)
			Expect(err).NotTo(HaveOccurred())
		}, NodeTimeout(3*time.Minute))

		It("renders one consistent installation", func() {
			Expect(in.consistency()).To(BeEmpty(), "the rendered objects disagree with each other")
			if r.identity != "" {
				Expect(in.user).To(Equal(r.identity), "the Deployment's ServiceAccount")
			}
			if r.check != nil {
				r.check(in)
			}
			for _, w := range in.webhooks {
				if w.injectFrom != "" {
					Expect(w.clientConfig.CABundle).To(BeEmpty(), "%s webhook %s carries a caBundle and asks cert-manager to inject one", w.ref(), w.name)
				}
			}
		})

		It("serves cert-manager's CRDs from its Go module and the InferenceService CRD", func(ctx SpecContext) {
			res := cp.kubectl.run(ctx, "", "apply", "--server-side", "-f", tools.certManagerCRDs, "-f", tools.inferenceServiceCRD)
			Expect(res.code).To(Equal(0), res.output())
			for _, crd := range []string{"certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io",
				"clusterissuers.cert-manager.io", "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io", "inferenceservices.serving.kserve.io"} {
				Expect(res.stdout).To(ContainSubstring("customresourcedefinition.apiextensions.k8s.io/%s serverside-applied", crd))
			}
			res = cp.kubectl.run(ctx, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
			Expect(res.code).To(Equal(0), res.output())
		}, SpecTimeout(2*time.Minute))

		It("accepts every rendered object with server-side validation, matchConditions CEL included", func(ctx SpecContext) {
			By("creating the namespace first, as a dry run cannot create what later objects live in")
			if namespaces := in.ofKind("Namespace"); len(namespaces) > 0 {
				nsYAML, err := stream(namespaces)
				Expect(err).NotTo(HaveOccurred())
				res := cp.kubectl.run(ctx, nsYAML, "apply", "--validate=strict", "-f", "-")
				Expect(res.code).To(Equal(0), res.output())
			} else {
				Expect(r.createNamespace).NotTo(BeEmpty(), "the rendering creates no Namespace and the test creates none")
				res := cp.kubectl.run(ctx, "", "create", "namespace", r.createNamespace)
				Expect(res.code).To(Equal(0), res.output())
			}
			file := filepath.Join(cp.dir, "rendering.yaml")
			Expect(os.WriteFile(file, in.raw, 0o600)).To(Succeed())

			By("applying everything as a server-side dry run")
			res := cp.kubectl.run(ctx, "", "apply", "--dry-run=server", "--validate=strict", "-f", file)
			Expect(res.code).To(Equal(0), res.output())
			Expect(res.stderr).To(BeEmpty(), "the API server warned about the rendering")
			for _, o := range in.objects {
				Expect(res.stdout).To(MatchRegexp(`(?m)^%s (created|unchanged|configured) \(server dry run\)$`, regexp.QuoteMeta(kubectlName(o))))
			}

			By("applying everything for real")
			res = cp.kubectl.run(ctx, "", "apply", "--validate=strict", "-f", file)
			Expect(res.code).To(Equal(0), res.output())
			Expect(res.stderr).To(BeEmpty(), "the API server warned about the rendering")
			for _, o := range in.objects {
				Expect(res.stdout).To(MatchRegexp(`(?m)^%s (created|unchanged|configured)$`, regexp.QuoteMeta(kubectlName(o))))
			}

			By("reading back every webhook's matchConditions as the API server stored them")
			for _, w := range in.webhooks {
				live, err := liveWebhook(ctx, cp.client, w)
				Expect(err).NotTo(HaveOccurred())
				Expect(live.name).To(Equal(w.name))
				Expect(live.matchConditions).To(Equal(w.matchConditions), "%s webhook %s", w.ref(), w.name)
			}
		}, SpecTimeout(2*time.Minute))

		It("ends with the serving CA in every webhook configuration, injected by cert-manager's CA injector where the rendering asks for it", func(ctx SpecContext) {
			By("running cert-manager's cainjector against the control plane")
			injectorCtx, stopInjector := context.WithCancel(ctx)
			done, err := startCAInjector(injectorCtx, cp.config)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				stopInjector()
				Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
			})

			if len(in.certificates) > 0 {
				By("issuing every rendered Certificate's Secret as cert-manager would")
				for _, key := range sortedKeys(in.certificates) {
					secret, err := issuedSecret(in.certificates[key], ca)
					Expect(err).NotTo(HaveOccurred())
					Expect(cp.client.Create(ctx, secret)).To(Succeed(), "Secret of Certificate %s", key)
				}
			} else {
				By("creating the TLS Secret the rendering expects from the user")
				pair, err := ca.issue(serviceNames(in), []net.IP{loopback})
				Expect(err).NotTo(HaveOccurred())
				Expect(cp.client.Create(ctx, userSecret(in.namespace, in.certSecret, pair))).To(Succeed())
			}

			By("waiting for every webhook's caBundle to be the CA that signed the serving certificate")
			Eventually(ctx, func(g Gomega) []string {
				return bundleProblems(ctx, g, cp.client, in, ca)
			}).WithTimeout(60 * time.Second).Should(BeEmpty())
		}, SpecTimeout(2*time.Minute))

		It("runs canarygate serve as the rendered ServiceAccount, its caches synced through the API server's RBAC", func(ctx SpecContext) {
			sa := kubectl{kubeconfig: serveKubeconfig}
			res := sa.run(ctx, "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
			Expect(res.code).To(Equal(0), res.output())
			Expect(res.stdout).To(Equal(in.user))

			By("serving the certificate from Secret " + in.certSecret)
			secret := &corev1.Secret{}
			Expect(cp.client.Get(ctx, client.ObjectKey{Namespace: in.namespace, Name: in.certSecret}, secret)).To(Succeed())
			certDir := filepath.Join(cp.dir, "serving-certs")
			Expect(os.MkdirAll(certDir, 0o700)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(certDir, corev1.TLSCertKey), secret.Data[corev1.TLSCertKey], 0o600)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(certDir, corev1.TLSPrivateKeyKey), secret.Data[corev1.TLSPrivateKeyKey], 0o600)).To(Succeed())

			args, err := mountConfigMaps(in, in.args, cp.dir)
			Expect(err).NotTo(HaveOccurred())
			srv, err = startServe(ctx, args, serveKubeconfig, certDir, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
		}, SpecTimeout(90*time.Second))

		It("admits and denies kubectl apply through the injected CA", func(ctx SpecContext) {
			By("pointing every webhook at the local server, keeping the injected caBundle")
			for _, ref := range configRefs(in) {
				var ops []map[string]any
				for _, w := range in.webhooks {
					if w.ref() == ref {
						base := fmt.Sprintf("/webhooks/%d/clientConfig", w.index)
						ops = append(ops,
							map[string]any{"op": "remove", "path": base + "/service"},
							map[string]any{"op": "add", "path": base + "/url", "value": srv.url(ptrValue(w.clientConfig.Service.Path))})
					}
				}
				patch, err := json.Marshal(ops)
				Expect(err).NotTo(HaveOccurred())
				res := cp.kubectl.run(ctx, "", "patch", ref, "--type=json", "-p", string(patch))
				Expect(res.code).To(Equal(0), res.output())
			}
			Expect(bundleProblems(ctx, Default, cp.client, in, ca)).To(BeEmpty())

			alice := cp.kubectl
			res := alice.run(ctx, "", "create", "namespace", releaseNamespace)
			Expect(res.code).To(Equal(0), res.output())

			By("applying the reference release up to the canary Ingress (step 3a, declared by labels)")
			for _, f := range []string{"scenario/00-isvc-model-v1.yaml", "labels/03a-isvc-model-v2.yaml", "scenario/01-services.yaml",
				"scenario/02-ingress.yaml", "labels/03-canary-ingress.yaml"} {
				res := alice.run(ctx, "", "apply", "-n", releaseNamespace, "-f", fixture(f))
				Expect(res.code).To(Equal(0), "%s: %s", f, res.output())
			}
			By("finding the strategy the mutating webhook injected")
			ann := map[string]string{}
			res = alice.run(ctx, "", "get", "ingress", "gray-release-canary", "-n", releaseNamespace, "-o", "jsonpath={.metadata.annotations}")
			Expect(res.code).To(Equal(0), res.output())
			Expect(json.Unmarshal([]byte(res.stdout), &ann)).To(Succeed())
			Expect(ann).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/canary-by-header", "foo"))
			Expect(ann).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/canary-by-header-value", "bar"))
			Expect(ann).To(HaveKeyWithValue("canarygate.io/source", "model-v2"))

			By("denying a canary weight written as a percentage, at dry run and for real (lint)")
			for _, dryRun := range []string{"--dry-run=server", "--dry-run=none"} {
				res := alice.run(ctx, badCanary, "apply", dryRun, "-n", releaseNamespace, "-f", "-")
				Expect(res.code).To(Equal(1), res.output())
				Expect(deniedBy(res.stderr, "CG102")).To(BeElementOf(webhookNames(in, "/validate/lint")), res.output())
				Expect(res.stderr).To(ContainSubstring(`[CG102] Ingress %s/canarygate-smoke-test: canary-weight "50%%"`, releaseNamespace))
			}
			res = alice.run(ctx, "", "get", "ingress", "canarygate-smoke-test", "-n", releaseNamespace)
			Expect(res.code).To(Equal(1))
			Expect(res.stderr).To(ContainSubstring("NotFound"))

			By("denying the switch to the unverified model-v2 (gate)")
			res = alice.run(ctx, "", "apply", "-n", releaseNamespace, "-f", fixture("scenario/04-switch.yaml"))
			Expect(res.code).To(Equal(1), res.output())
			Expect(deniedBy(res.stderr, "CG301")).To(BeElementOf(webhookNames(in, "/validate/gate")), res.output())

			By("creating and deleting a Service no model stands behind (matchConditions on a null object)")
			res = alice.run(ctx, "", "create", "service", "clusterip", "plain", "--tcp=80:8080", "-n", releaseNamespace)
			Expect(res.code).To(Equal(0), res.output())
			res = alice.run(ctx, "", "delete", "service", "plain", "-n", releaseNamespace)
			Expect(res.code).To(Equal(0), res.output())
		}, SpecTimeout(2*time.Minute))

		It("syncs the canary Ingress as the ServiceAccount when model-v2's weight changes, within the installation's policy", func(ctx SpecContext) {
			alice := cp.kubectl
			weight := func(g Gomega) string {
				res := alice.run(ctx, "", "get", "ingress", "gray-release-canary", "-n", releaseNamespace,
					"-o", `jsonpath={.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}`)
				g.Expect(res.code).To(Equal(0), res.output())
				return res.stdout
			}
			res := alice.run(ctx, "", "annotate", "inferenceservice", "model-v2", "-n", releaseNamespace, "canarygate.io/weight=20", "--overwrite")
			Expect(res.code).To(Equal(0), res.output())
			Eventually(ctx, weight).WithTimeout(30 * time.Second).Should(Equal("20"))

			By("finding the Event the sync controller recorded with the ServiceAccount's rights")
			Eventually(ctx, func(g Gomega) string {
				res := alice.run(ctx, "", "get", "events", "-n", releaseNamespace,
					"--field-selector", "involvedObject.kind=InferenceService,involvedObject.name=model-v2,reason=CanaryIngressUpdated",
					"-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
				g.Expect(res.code).To(Equal(0), res.output())
				return res.stdout
			}).WithTimeout(30 * time.Second).Should(ContainSubstring(`Ingress gray-release-canary set to`))

			By("denying a weight above the installation's max_unverified_weight (gate, on the InferenceService)")
			limit := r.maxUnverifiedWeight
			if limit == 0 {
				limit = 50
			}
			res = alice.run(ctx, "", "annotate", "inferenceservice", "model-v2", "-n", releaseNamespace, fmt.Sprintf("canarygate.io/weight=%d", limit+5), "--overwrite")
			Expect(res.code).To(Equal(1), res.output())
			Expect(deniedBy(res.stderr, "CG302")).To(BeElementOf(webhookNames(in, "/validate/gate")), res.output())
			Expect(res.stderr).To(ContainSubstring("above max_unverified_weight %d%%", limit))
			Consistently(ctx, weight).WithTimeout(2 * time.Second).Should(Equal("20"))
		}, SpecTimeout(90*time.Second))

		It("forbids the ServiceAccount to read Secrets or list Pods, and grants it only what the server needs", func(ctx SpecContext) {
			sa := kubectl{kubeconfig: serveKubeconfig}
			type access struct {
				verb, resource, namespace string // namespace "": all namespaces
				allowed                   bool
			}
			table := []access{}
			for _, res := range []string{"services", "ingresses.networking.k8s.io", "inferenceservices.serving.kserve.io", "namespaces"} {
				for _, verb := range []string{"get", "list", "watch"} {
					table = append(table, access{verb, res, "", true})
				}
			}
			table = append(table,
				access{"update", "ingresses.networking.k8s.io", releaseNamespace, true},
				access{"patch", "ingresses.networking.k8s.io", releaseNamespace, true},
				access{"create", "events", releaseNamespace, true},
				access{"patch", "events", releaseNamespace, true},
				access{"create", "events.events.k8s.io", releaseNamespace, true},
				access{"patch", "events.events.k8s.io", releaseNamespace, true},
				access{"get", "leases.coordination.k8s.io", in.namespace, true},
				access{"create", "leases.coordination.k8s.io", in.namespace, true},
				access{"update", "leases.coordination.k8s.io", in.namespace, true},

				access{"get", "secrets", in.namespace, false},
				access{"list", "secrets", in.namespace, false},
				access{"list", "secrets", "", false},
				access{"watch", "secrets", "", false},
				access{"get", "pods", releaseNamespace, false},
				access{"list", "pods", "", false},
				access{"list", "configmaps", "", false},
				access{"create", "services", releaseNamespace, false},
				access{"update", "services", releaseNamespace, false},
				access{"delete", "services", releaseNamespace, false},
				access{"create", "ingresses.networking.k8s.io", releaseNamespace, false},
				access{"delete", "ingresses.networking.k8s.io", releaseNamespace, false},
				access{"update", "inferenceservices.serving.kserve.io", releaseNamespace, false},
				access{"patch", "inferenceservices.serving.kserve.io", releaseNamespace, false},
				access{"create", "leases.coordination.k8s.io", releaseNamespace, false},
				access{"create", "leases.coordination.k8s.io", "kube-system", false},
				access{"update", "validatingwebhookconfigurations.admissionregistration.k8s.io", "", false},
				access{"create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
				access{"impersonate", "users", "", false},
			)
			var wrong []string
			for _, a := range table {
				args := []string{"auth", "can-i", a.verb, a.resource}
				if a.namespace == "" {
					args = append(args, "--all-namespaces")
				} else {
					args = append(args, "-n", a.namespace)
				}
				res := sa.run(ctx, "", args...)
				got := strings.TrimSpace(res.stdout)
				Expect(got).To(BeElementOf("yes", "no"), res.output())
				if (got == "yes") != a.allowed {
					wrong = append(wrong, fmt.Sprintf("%s %s in %q: %s, want allowed=%t", a.verb, a.resource, a.namespace, got, a.allowed))
				}
			}
			Expect(wrong).To(BeEmpty(), "%s's RBAC", in.user)

			By("reading Secrets and listing Pods for real")
			res := sa.run(ctx, "", "get", "secret", in.certSecret, "-n", in.namespace)
			Expect(res.code).To(Equal(1))
			Expect(res.stderr).To(ContainSubstring(`secrets %q is forbidden: User %q cannot get resource "secrets" in API group "" in the namespace %q`, in.certSecret, in.user, in.namespace))
			res = sa.run(ctx, "", "get", "secrets", "--all-namespaces")
			Expect(res.code).To(Equal(1))
			Expect(res.stderr).To(ContainSubstring(`secrets is forbidden: User %q cannot list resource "secrets" in API group "" at the cluster scope`, in.user))
			res = sa.run(ctx, "", "get", "pods", "--all-namespaces")
			Expect(res.code).To(Equal(1))
			Expect(res.stderr).To(ContainSubstring(`pods is forbidden: User %q cannot list resource "pods" in API group "" at the cluster scope`, in.user))
		}, SpecTimeout(2*time.Minute))
	})
}

// badCanary is the smoke test of docs/install.md with a weight of "50%",
// which ingress-nginx would read as 0.
const badCanary = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: canarygate-smoke-test
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "50%"
spec:
  ingressClassName: nginx
  rules:
  - host: canarygate-smoke-test.invalid
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: canarygate-smoke-test
            port:
              number: 80
`

// deniedRE is how the API server reports a webhook's denial.
var deniedRE = regexp.MustCompile(`admission webhook "([^"]+)" denied the request: \[(CG\d+)\]`)

// deniedBy is the webhook that denied with code in kubectl's stderr, or "".
func deniedBy(stderr, code string) string {
	for _, m := range deniedRE.FindAllStringSubmatch(stderr, -1) {
		if m[2] == code {
			return m[1]
		}
	}
	return ""
}

// webhookNames are the rendered webhooks calling path.
func webhookNames(in *install, path string) []string {
	var out []string
	for _, w := range in.webhooks {
		if w.clientConfig.Service != nil && ptrValue(w.clientConfig.Service.Path) == path {
			out = append(out, w.name)
		}
	}
	return out
}

// configRefs are the rendered webhook configurations, as kubectl names them.
func configRefs(in *install) []string {
	var out []string
	for _, w := range in.webhooks {
		if !slices.Contains(out, w.ref()) {
			out = append(out, w.ref())
		}
	}
	return out
}

// bundleProblems lists every rendered webhook whose live caBundle is not
// ca's certificate.
func bundleProblems(ctx context.Context, g Gomega, c client.Client, in *install, ca *authority) []string {
	var problems []string
	for _, w := range in.webhooks {
		live, err := liveWebhook(ctx, c, w)
		g.Expect(err).NotTo(HaveOccurred())
		if string(live.clientConfig.CABundle) != string(ca.certPEM) {
			problems = append(problems, fmt.Sprintf("%s webhook %s: caBundle is %q", w.ref(), w.name, live.clientConfig.CABundle))
		}
	}
	return problems
}

// liveWebhook reads a rendered webhook entry back from the API server.
func liveWebhook(ctx context.Context, c client.Client, w webhook) (webhook, error) {
	key := client.ObjectKey{Name: w.config}
	switch w.resource {
	case "validatingwebhookconfigurations":
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(ctx, key, cfg); err != nil {
			return webhook{}, err
		}
		if w.index >= len(cfg.Webhooks) {
			return webhook{}, fmt.Errorf("%s has %d webhooks, want at least %d", w.ref(), len(cfg.Webhooks), w.index+1)
		}
		l := cfg.Webhooks[w.index]
		return webhook{resource: w.resource, config: w.config, index: w.index, name: l.Name, clientConfig: l.ClientConfig, matchConditions: l.MatchConditions}, nil
	default:
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, key, cfg); err != nil {
			return webhook{}, err
		}
		if w.index >= len(cfg.Webhooks) {
			return webhook{}, fmt.Errorf("%s has %d webhooks, want at least %d", w.ref(), len(cfg.Webhooks), w.index+1)
		}
		l := cfg.Webhooks[w.index]
		return webhook{resource: w.resource, config: w.config, index: w.index, name: l.Name, clientConfig: l.ClientConfig, matchConditions: l.MatchConditions}, nil
	}
}

// serviceNames are the DNS names the API server dials for the rendered
// webhooks' Services.
func serviceNames(in *install) []string {
	var out []string
	for _, w := range in.webhooks {
		if s := w.clientConfig.Service; s != nil {
			for _, n := range []string{s.Name + "." + s.Namespace + ".svc", s.Name + "." + s.Namespace + ".svc.cluster.local"} {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// fixture is the path of a file under test/fixtures.
func fixture(name string) string {
	return filepath.Join(tools.root, "test", "fixtures", name)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
