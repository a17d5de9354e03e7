package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// admin is the identity the test itself acts as.
const admin = "deploy-admin"

// controlPlane is a fresh etcd and kube-apiserver with RBAC authorization
// (envtest's default), and nothing else installed: no CRDs, no webhooks.
type controlPlane struct {
	env    *envtest.Environment
	config *rest.Config
	client client.Client
	dir    string
	// kubeconfig is admin's kubeconfig (system:masters).
	kubeconfig string
	// kubectl runs kubectl as admin.
	kubectl kubectl
}

// startControlPlane starts etcd and kube-apiserver from tools.assets.
func startControlPlane() (*controlPlane, error) {
	dir, err := os.MkdirTemp("", "canarygate-deploy-")
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{dir: dir, env: &envtest.Environment{BinaryAssetsDirectory: tools.assets}}
	// Loopback only: without these the API server advertises the machine's
	// own address, and a machine without one never starts it.
	api := cp.env.ControlPlane.GetAPIServer()
	api.Configure().Set("advertise-address", "127.0.0.1")
	api.Configure().Set("endpoint-reconciler-type", "none")
	if cp.config, err = cp.env.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("starting etcd and kube-apiserver from %s: %w", tools.assets, err), cp.stop())
	}
	if cp.client, err = client.New(cp.config, client.Options{Scheme: newScheme()}); err != nil {
		return nil, errors.Join(err, cp.stop())
	}
	user, err := cp.env.AddUser(envtest.User{Name: admin, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, errors.Join(err, cp.stop())
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return nil, errors.Join(err, cp.stop())
	}
	cp.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(cp.kubeconfig, raw, 0o600); err != nil {
		return nil, errors.Join(err, cp.stop())
	}
	cp.kubectl = kubectl{kubeconfig: cp.kubeconfig}
	return cp, nil
}

// impersonating writes a kubeconfig that acts as user through admin's
// credentials (the `as:` field kubectl and client-go honour). The API server
// then authorizes every request as that user, with the groups it would
// have from a real token (for a ServiceAccount: system:serviceaccounts,
// system:serviceaccounts:<namespace>, system:authenticated), through its
// real RBAC.
func (cp *controlPlane) impersonating(user string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(cp.kubeconfig)
	if err != nil {
		return "", err
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(cp.dir, strings.NewReplacer(":", "-", "/", "-").Replace(user)+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// stop stops etcd and kube-apiserver and removes the control plane's files.
func (cp *controlPlane) stop() error {
	return errors.Join(cp.env.Stop(), os.RemoveAll(cp.dir))
}

// newScheme knows the kinds the test reads and writes with a Go client.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, cmapi.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// kubectl runs bin/controlplane/kubectl with one kubeconfig.
type kubectl struct {
	kubeconfig string
}

// result is one kubectl run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

// output is stdout and stderr together, as a person sees them.
func (r result) output() string { return r.stdout + r.stderr }

// run runs kubectl with optional stdin and logs the command and its output.
func (k kubectl) run(ctx context.Context, stdin string, args ...string) result {
	cmd := exec.CommandContext(ctx, tools.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		r.code = -1
		r.stderr += err.Error()
	}
	GinkgoWriter.Printf("$ kubectl %s (exit %d)\n%s", strings.Join(args, " "), r.code, r.output())
	return r
}
