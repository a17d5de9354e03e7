package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

// rendering is one way of installing canarygate that the suite proves. Each
// gets its own control plane.
type rendering struct {
	// name titles the specs.
	name string
	// render returns the manifests. ca is the CA the test issues the
	// serving certificate from, for renderings that take it as input
	// (a chart installed without cert-manager).
	render func(ctx context.Context, ca *authority) ([]byte, error)
	// createNamespace is created before anything is applied when the
	// rendering does not contain its namespace (`helm install
	// --create-namespace`); empty for renderings that carry it.
	createNamespace string
	// identity, when set, is the user name the server must run as.
	identity string
	// check, when set, asserts that the rendering carries what its values
	// ask for, so a value the chart ignores (renamed, misspelt) fails
	// instead of passing as the default.
	check func(in *install)
	// maxUnverifiedWeight is the policy's max_unverified_weight for this
	// installation (0: the built-in default, 50).
	maxUnverifiedWeight int
}

// renderings are the installations under test: kustomize always; the Helm
// chart, once charts/canarygate exists, with default and non-default values
// (it fails when bin/helm has not been built).
func renderings(root string) []rendering {
	rs := []rendering{{
		name: "kustomize config/webhook",
		render: func(ctx context.Context, _ *authority) ([]byte, error) {
			r := kubectl{}.run(ctx, "", "kustomize", filepath.Join(root, "config", "webhook"))
			if r.code != 0 {
				return nil, fmt.Errorf("kubectl kustomize config/webhook (exit %d): %s", r.code, r.stderr)
			}
			return []byte(r.stdout), nil
		},
		// The e2e harness runs the server as this user; the shipped
		// manifests must grant it.
		identity: harness.ServeUser,
	}}
	chart := filepath.Join(root, "charts", "canarygate")
	helm := filepath.Join(root, "bin", "helm")
	_, chartErr := os.Stat(filepath.Join(chart, "Chart.yaml"))
	_, helmErr := os.Stat(helm)
	switch {
	case chartErr != nil:
		return rs
	case helmErr != nil:
		// The chart is there to be proven: fail rather than skip it.
		return append(rs, rendering{
			name: "helm chart",
			render: func(context.Context, *authority) ([]byte, error) {
				return nil, fmt.Errorf("%s is missing, so chart %s cannot be rendered: run `make helm` first: %w", helm, chart, helmErr)
			},
		})
	}
	const namespace = "canarygate-system"
	template := func(values ...string) func(context.Context, *authority) ([]byte, error) {
		return func(ctx context.Context, _ *authority) ([]byte, error) {
			return helmTemplate(ctx, helm, chart, namespace, values)
		}
	}
	return append(rs,
		rendering{
			name:            "helm chart, default values",
			render:          template(),
			createNamespace: namespace,
			identity:        harness.ServeUser,
		},
		rendering{
			name: "helm chart, non-default values (namespace, existing ClusterIssuer, 3 replicas, two ingress classes, policy data, metrics off, debug logs)",
			render: template(
				"namespace.create=true",
				"replicaCount=3",
				"ingressClasses={nginx,nginx-internal}",
				"webhook.excludedNamespaces={team-sandbox}",
				"metrics.enabled=false",
				"logLevel=debug",
				"resources.limits.memory=1Gi",
				"certManager.issuerRef.kind=ClusterIssuer",
				"certManager.issuerRef.name=internal-ca",
				"policyData.settings.max_unverified_weight=25",
			),
			createNamespace:     namespace,
			maxUnverifiedWeight: 25,
			check: func(in *install) {
				Expect(in.ofKind("Namespace")).To(HaveLen(1), "namespace.create=true renders the Namespace")
				Expect(in.ofKind("Issuer.cert-manager.io")).To(BeEmpty(), "an existing issuer: no Issuer of the chart's own")
				Expect(in.deployment.Spec.Replicas).To(HaveValue(BeEquivalentTo(3)), "replicaCount")
				Expect(in.args).To(ContainElements("--ingress-class=nginx", "--ingress-class=nginx-internal", "--metrics-bind-address=0", "--dev-log"))
				Expect(in.container.Resources.Limits.Memory().String()).To(Equal("1Gi"))
				Expect(in.configMaps).To(HaveLen(1), "policyData renders its ConfigMap")
				Expect(in.certificates).To(HaveLen(1), "an existing issuer: only the serving Certificate")
				for _, crt := range in.certificates {
					Expect(crt.Spec.IssuerRef.Kind).To(Equal("ClusterIssuer"))
					Expect(crt.Spec.IssuerRef.Name).To(Equal("internal-ca"))
				}
				for _, w := range in.webhooks {
					Expect(w.namespaceSelector).NotTo(BeNil(), w.name)
					Expect(w.namespaceSelector.MatchExpressions).To(ContainElement(HaveField("Values", ContainElement("team-sandbox"))), w.name)
				}
			},
		},
		rendering{
			name: "helm chart without cert-manager (user-provided TLS Secret and CA bundle)",
			render: func(ctx context.Context, ca *authority) ([]byte, error) {
				return helmTemplate(ctx, helm, chart, namespace, []string{
					"certManager.enabled=false",
					"tls.secretName=canarygate-tls",
					"tls.caBundle=" + base64.StdEncoding.EncodeToString(ca.certPEM),
				})
			},
			createNamespace: namespace,
			check: func(in *install) {
				Expect(in.certificates).To(BeEmpty(), "certManager.enabled=false renders no Certificate")
				Expect(in.certSecret).To(Equal("canarygate-tls"), "tls.secretName")
				for _, w := range in.webhooks {
					Expect(w.injectFrom).To(BeEmpty(), "%s asks cert-manager to inject a CA", w.ref())
				}
			},
		},
	)
}

// helmTemplate renders the chart as `helm install canarygate -n namespace`
// would, against the control plane's Kubernetes version.
func helmTemplate(ctx context.Context, helm, chart, namespace string, values []string) ([]byte, error) {
	args := []string{"template", "canarygate", chart, "--namespace", namespace, "--kube-version", "v1.37.2"}
	for _, v := range values {
		args = append(args, "--set", v)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}
