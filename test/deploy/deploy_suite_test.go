// Package deploy proves canarygate's installation manifests against a real
// control plane (issue 4, "proof against the real API server"). For every
// rendering of the manifests — `kubectl kustomize config/webhook`, and the
// Helm chart with default and non-default values once charts/canarygate and
// bin/helm exist — a fresh etcd and kube-apiserver (bin/controlplane):
//
//   - serve cert-manager's own CRDs, read from the cert-manager Go module,
//     and the InferenceService CRD (test/crds);
//   - accept every rendered object with server-side validation, first as a
//     dry run and then for real, the webhooks' matchConditions CEL included;
//   - run cert-manager's CA injector (pkg/controller/cainjector) in this
//     process, which must inject the serving CA into every rendered webhook
//     configuration once the Certificate's Secret exists;
//   - send real `kubectl apply` requests through those configurations, with
//     the injected CA, to `canarygate serve` running here as the rendered
//     ServiceAccount (impersonated, so the API server's real RBAC applies).
//
// This is its own Go module so that cert-manager and its dependencies stay
// out of canarygate's go.mod. Run it with `go test ./...` in this directory;
// it fails (it never skips) when bin/controlplane has not been built.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// certManagerModule is the module whose CRDs and CA injector the tests run;
// its version is pinned in go.mod.
const certManagerModule = "github.com/cert-manager/cert-manager"

// tools are the binaries and files every rendering's specs share.
var tools struct {
	// root is the repository root.
	root string
	// assets is bin/controlplane: etcd, kube-apiserver, kubectl.
	assets string
	// kubectl is bin/controlplane/kubectl.
	kubectl string
	// canarygate is the server binary, built once for the suite.
	canarygate string
	// certManagerCRDs is deploy/crds in the cert-manager module.
	certManagerCRDs string
	// inferenceServiceCRD is test/crds.
	inferenceServiceCRD string
}

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "canarygate deploy")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	tools.root = repoRoot()
	tools.assets = filepath.Join(tools.root, "bin", "controlplane")
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(tools.assets, b)); err != nil {
			Fail(fmt.Sprintf("%s is missing from %s: run `make controlplane` in %s first (it builds the control plane from the Go module proxy): %v",
				b, tools.assets, tools.root, err))
		}
	}
	tools.kubectl = filepath.Join(tools.assets, "kubectl")
	tools.inferenceServiceCRD = filepath.Join(tools.root, "test", "crds")
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	By("finding cert-manager's CRDs in its Go module")
	out, err := goCommand(ctx, ".", "list", "-m", "-f", "{{.Dir}}", certManagerModule)
	Expect(err).NotTo(HaveOccurred(), "locating %s: %s", certManagerModule, out)
	tools.certManagerCRDs = filepath.Join(strings.TrimSpace(out), "deploy", "crds")
	crds, err := filepath.Glob(filepath.Join(tools.certManagerCRDs, "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(crds).NotTo(BeEmpty(), "no CRDs in %s: the cert-manager module no longer ships deploy/crds", tools.certManagerCRDs)

	By("building canarygate")
	tools.canarygate = filepath.Join(GinkgoT().TempDir(), "canarygate")
	out, err = goCommand(ctx, tools.root, "build", "-o", tools.canarygate, "./cmd/webhook")
	Expect(err).NotTo(HaveOccurred(), "building canarygate: %s", out)
}, NodeTimeout(10*time.Minute))

// repoRoot is the repository root: this module lives in test/deploy.
func repoRoot() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}

// goCommand runs the go command in dir and returns its combined output.
func goCommand(ctx SpecContext, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
