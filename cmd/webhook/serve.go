package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/facts/cluster"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/policy"
	cgsync "github.com/canarygate/canarygate/pkg/sync"
	"github.com/canarygate/canarygate/pkg/webhook"
)

type serveFlags struct {
	kubeconfig, certDir, probeAddr, metricsAddr, pprofAddr string
	leaderElectionNamespace                                string
	port                                                   int
	classes                                                []string
	enableHTTP2, leaderElect, devLog                       bool
	policy                                                 policyFlags
	timeout, shutdownDelay                                 time.Duration
}

func newServeCommand() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the admission webhook server (mutate, gate, lint)",
		Long: `serve runs canarygate's admission webhooks over HTTPS:

  POST /mutate          injects nginx canary annotations and writes stamps (fails open)
  POST /validate/gate   blocks switches to unverified InferenceServices (fails closed)
  POST /validate/lint   checks annotation values and route structure (fails open)

It watches Ingresses, Services, InferenceServices and Namespaces through an
indexed cache, reads the InferenceService a switch targets live, and reports
ready on /readyz only once the caches have synced and the policies are
loaded. Before that the gate denies with the reason, lint allows with a
warning and mutate patches nothing.`,
		Example: `  # Local development against the current kubeconfig, certificates in ./certs
  canarygate serve --cert-dir ./certs --kubeconfig ~/.kube/config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the API server to watch (default: in-cluster, else $KUBECONFIG)")
	fl.IntVar(&f.port, "port", 9443, "HTTPS webhook port")
	fl.StringVar(&f.certDir, "cert-dir", "", "directory with tls.crt and tls.key, reloaded when they change (default: controller-runtime's serving-certs directory)")
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", `address of Prometheus /metrics ("0" disables)`)
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "0", `address of Go's /debug/pprof profiles, for diagnosing latency or memory ("0" disables; never expose it outside the pod)`)
	fl.StringArrayVar(&f.classes, "ingress-class", []string{facts.DefaultIngressClass}, "ingress classes governed (repeatable); the first is assumed for Ingresses that name none")
	fl.BoolVar(&f.enableHTTP2, "enable-http2", false, "serve HTTP/2 on the webhook port (off by default: HTTP/2 rapid-reset mitigations)")
	f.policy.addSourceFlags(fl)
	f.policy.addReloadFlags(fl)
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader for the sync controller so replicas do not fight")
	fl.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's own namespace; required outside a cluster)")
	fl.DurationVar(&f.timeout, "decision-timeout", 2*time.Second, "bound on fact lookups and evaluation per request, below the webhook timeout")
	fl.BoolVar(&f.devLog, "dev-log", false, "human-readable logs instead of JSON")
	fl.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, report not ready for this long (so endpoints drop this replica) before closing the servers; in-flight requests then finish")
	return cmd
}

// newLogger returns serve's logger: human-readable with --dev-log, else
// JSON lines. The JSON logger is built here rather than by
// controller-runtime's zap.New, whose production logger samples: past 100
// lines of one message in a second it keeps every 100th, which under load
// would drop most "decision" lines, and the decision log promises one line
// per decision.
func newLogger(dev bool, w io.Writer) logr.Logger {
	if dev {
		return zap.New(zap.UseDevMode(true), zap.WriteTo(w))
	}
	enc := uberzap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), uberzap.NewAtomicLevelAt(zapcore.InfoLevel))
	return zapr.NewLogger(uberzap.New(core, uberzap.AddStacktrace(zapcore.ErrorLevel), uberzap.ErrorOutput(zapcore.Lock(os.Stderr))))
}

// serveGCPercent is the garbage collector's target when GOGC is not set.
// Each admission request leaves ~100–200 KB of short-lived garbage, mostly
// from policy evaluation, over a heap that is mostly the informer caches:
// Go's default of 100 collects so often that collection took a fifth of
// serve's CPU under load. 200 halves the collections for about 10 MiB more
// resident memory on a cluster of 16,000 objects (docs/performance.md);
// GOGC and GOMEMLIMIT (which the manifests set to the memory limit) still
// take precedence.
const serveGCPercent = 200

func runServe(ctx context.Context, f *serveFlags) error {
	fail := func(err error) error { return &exitError{code: 2, err: err} }
	log := newLogger(f.devLog, os.Stderr)
	ctrl.SetLogger(log)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}

	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return fail(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fail(err)
	}
	if err := kserve.AddToScheme(scheme); err != nil {
		return fail(err)
	}

	var tlsOpts []func(*tls.Config)
	tlsOpts = append(tlsOpts, func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 })
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		Metrics: metricsserver.Options{
			BindAddress: f.metricsAddr,
		},
		HealthProbeBindAddress: f.probeAddr,
		PprofBindAddress:       f.pprofAddr,
		WebhookServer: crwebhook.NewServer(crwebhook.Options{
			Port: f.port, CertDir: f.certDir, TLSOpts: tlsOpts,
		}),
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "canarygate-sync",
		LeaderElectionNamespace: f.leaderElectionNamespace,
	})
	if err != nil {
		return fail(fmt.Errorf("creating the manager: %w", err))
	}
	classes := facts.NewClasses(f.classes)
	if err := cluster.AddIndexes(ctx, mgr.GetFieldIndexer(), classes); err != nil {
		return fail(err)
	}

	// Policies load at startup and reload when a source changes, keeping
	// the last good set; until one set has loaded every endpoint answers
	// as DESIGN §4 says for "not loaded".
	ropts := f.policy.reloaderOptions()
	ropts.Registerer = metrics.Registry
	ropts.Log = log.WithName("policy")
	reloader, err := policy.NewReloader(ropts)
	if err != nil {
		return fail(err)
	}
	if err := reloader.Load(ctx); err != nil {
		log.Error(err, "policies are not loaded; not ready until they are")
	}
	if err := mgr.Add(reloader); err != nil {
		return fail(err)
	}

	sync := &cacheSync{cache: mgr.GetCache(), mapper: mgr.GetRESTMapper(), log: log.WithName("cache")}
	if err := mgr.Add(sync); err != nil {
		return fail(err)
	}
	metricsCollectors, err := webhook.NewMetrics(metrics.Registry)
	if err != nil {
		return fail(err)
	}
	h := webhook.New(webhook.Options{
		Classes: classes, Engine: reloader.Engine(),
		Facts:     cluster.Reader{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()},
		Cached:    cluster.Reader{Cache: mgr.GetCache(), Live: mgr.GetAPIReader(), LiveOnMiss: true},
		Ready:     sync.ready,
		Timeout:   f.timeout,
		Tolerance: time.Minute,
		Metrics:   metricsCollectors,
		Log:       log.WithName("decision"),
	})
	syncer := &cgsync.Reconciler{
		Client: mgr.GetClient(), Facts: cluster.Reader{Cache: mgr.GetCache()},
		Classes: classes, Events: mgr.GetEventRecorder("canarygate"),
	}
	// The sync controller watches InferenceServices, so it is set up once
	// the CRD exists; without it the server stays up and not ready.
	sync.afterCRD = func() error {
		if err := syncer.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the sync controller: %w", err)
		}
		return nil
	}
	srv := mgr.GetWebhookServer()
	srv.Register(webhook.PathMutate, h.Mutate)
	srv.Register(webhook.PathGate, h.Gate)
	srv.Register(webhook.PathLint, h.Lint)

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fail(err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fail(err)
	}
	var draining atomic.Bool
	if err := mgr.AddReadyzCheck("shutdown", func(*http.Request) error {
		if draining.Load() {
			return errors.New("shutting down: draining in-flight requests")
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	if err := mgr.AddReadyzCheck("caches", func(*http.Request) error { return sync.ready() }); err != nil {
		return fail(err)
	}
	if err := mgr.AddReadyzCheck("policies", func(*http.Request) error { return reloader.Ready() }); err != nil {
		return fail(err)
	}
	log.Info("starting canarygate", "version", version, "port", f.port, "ingressClasses", []string(classes))
	if err := mgr.Start(drainOnSignal(ctx, &draining, f.shutdownDelay, log)); err != nil {
		return fail(fmt.Errorf("running the manager: %w", err))
	}
	return nil
}

// drainOnSignal returns a context the manager runs under. On SIGTERM or
// SIGINT it first marks the server not ready and waits delay, so Service
// endpoints stop sending new requests, then cancels the context: the
// manager closes the webhook server gracefully, letting in-flight requests
// finish. A second signal exits at once.
func drainOnSignal(parent context.Context, draining *atomic.Bool, delay time.Duration, log logr.Logger) context.Context {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		defer cancel()
		select {
		case <-sigs:
		case <-parent.Done():
			return
		}
		draining.Store(true)
		log.Info("shutdown requested: not ready, draining", "delay", delay.String())
		select {
		case <-time.After(delay):
		case <-sigs:
			os.Exit(1)
		}
	}()
	return ctx
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// As ctrl.GetConfig does: no client-side rate limit (the API server's
	// priority and fairness applies). client-go's default of 5 requests/s
	// would throttle the gate's live reads under a burst of admissions.
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

// cacheSync starts the informers canarygate needs and reports readiness once
// they have synced. Without the InferenceService CRD it stays not ready,
// says which CRD is missing, and keeps checking.
type cacheSync struct {
	cache  cache.Cache
	mapper meta.RESTMapper
	log    logr.Logger
	// afterCRD runs once the InferenceService CRD is served.
	afterCRD func() error
	synced   atomic.Bool
	reason   atomic.Value // string
}

var _ manager.Runnable = (*cacheSync)(nil)

// NeedLeaderElection reports false: every replica serves the webhooks and
// needs its caches; only the sync controller (registered by afterCRD) is
// leader-elected.
func (c *cacheSync) NeedLeaderElection() bool { return false }

func (c *cacheSync) ready() error {
	if c.synced.Load() {
		return nil
	}
	if r, _ := c.reason.Load().(string); r != "" {
		return fmt.Errorf("%w: %s", webhook.ErrNotReady, r)
	}
	return fmt.Errorf("%w: caches are syncing", webhook.ErrNotReady)
}

// Start implements manager.Runnable.
func (c *cacheSync) Start(ctx context.Context) error {
	for {
		if _, err := c.mapper.RESTMapping(kserve.GroupVersionKind.GroupKind(), kserve.Version); err != nil {
			reason := fmt.Sprintf("the InferenceService CRD (%s/%s) is not installed: %v", kserve.Group, kserve.Version, err)
			if prev, _ := c.reason.Load().(string); prev != reason {
				c.log.Info("not ready", "reason", reason)
			}
			c.reason.Store(reason)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
				continue
			}
		}
		break
	}
	if c.afterCRD != nil {
		if err := c.afterCRD(); err != nil {
			return err
		}
	}
	for _, obj := range []client.Object{&networkingv1.Ingress{}, &corev1.Service{}, &corev1.Namespace{}, &kserve.InferenceService{}} {
		if _, err := c.cache.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("starting the %T informer: %w", obj, err)
		}
	}
	if !c.cache.WaitForCacheSync(ctx) {
		return nil
	}
	c.synced.Store(true)
	c.reason.Store("")
	c.log.Info("caches synced")
	<-ctx.Done()
	return nil
}
