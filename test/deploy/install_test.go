package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// install is one rendering of canarygate's manifests, with the facts the
// test derives from it rather than assumes: where the server runs, as whom,
// where its certificate comes from and which webhooks call it.
type install struct {
	// raw is the rendering as a multi-document YAML stream.
	raw []byte
	// objects are every rendered object, in rendering order.
	objects []*unstructured.Unstructured
	// namespace is the Deployment's namespace.
	namespace  string
	deployment *appsv1.Deployment
	container  corev1.Container
	// user is the ServiceAccount the Deployment runs as, as a user name.
	user string
	// args are the server's command line after the binary (`serve …`).
	args []string
	// certDir is the server's --cert-dir.
	certDir string
	// certSecret is the Secret mounted at certDir.
	certSecret   string
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	certificates map[string]*cmapi.Certificate
	webhooks     []webhook
}

// webhook is one entry of a Validating- or MutatingWebhookConfiguration.
type webhook struct {
	// resource is the configuration's resource (validatingwebhookconfigurations, …).
	resource string
	config   string
	// index is the entry's position in the configuration's webhooks list.
	index int
	name  string
	// injectFrom is the configuration's cert-manager.io/inject-ca-from.
	injectFrom        string
	clientConfig      admissionregistrationv1.WebhookClientConfig
	namespaceSelector *metav1.LabelSelector
	matchConditions   []admissionregistrationv1.MatchCondition
}

// ref is the configuration as kubectl names it.
func (w webhook) ref() string { return w.resource + "/" + w.config }

// parseInstall reads a rendering. It returns an error when the rendering
// lacks a piece the installation cannot work without (one Deployment
// running `serve` with a --cert-dir backed by a Secret volume, its
// ServiceAccount, webhook configurations).
func parseInstall(raw []byte) (*install, error) {
	in := &install{raw: raw, services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}, certificates: map[string]*cmapi.Certificate{}}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the rendering: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		in.objects = append(in.objects, u)
	}
	var deployments []*appsv1.Deployment
	serviceAccounts := map[string]bool{}
	for _, u := range in.objects {
		gk := u.GroupVersionKind().GroupKind()
		switch gk.String() {
		case "Deployment.apps":
			d := &appsv1.Deployment{}
			if err := convert(u, d); err != nil {
				return nil, err
			}
			deployments = append(deployments, d)
		case "ServiceAccount":
			serviceAccounts[u.GetNamespace()+"/"+u.GetName()] = true
		case "Service":
			s := &corev1.Service{}
			if err := convert(u, s); err != nil {
				return nil, err
			}
			in.services[s.Namespace+"/"+s.Name] = s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			if err := convert(u, c); err != nil {
				return nil, err
			}
			in.configMaps[c.Namespace+"/"+c.Name] = c
		case "Certificate.cert-manager.io":
			c := &cmapi.Certificate{}
			if err := convert(u, c); err != nil {
				return nil, err
			}
			in.certificates[c.Namespace+"/"+c.Name] = c
		case "ValidatingWebhookConfiguration.admissionregistration.k8s.io":
			c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := convert(u, c); err != nil {
				return nil, err
			}
			for i, w := range c.Webhooks {
				in.webhooks = append(in.webhooks, webhook{
					resource: "validatingwebhookconfigurations", config: c.Name, index: i, name: w.Name,
					injectFrom: c.Annotations[cmapi.WantInjectAnnotation], clientConfig: w.ClientConfig, namespaceSelector: w.NamespaceSelector,
					matchConditions: w.MatchConditions,
				})
			}
		case "MutatingWebhookConfiguration.admissionregistration.k8s.io":
			c := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := convert(u, c); err != nil {
				return nil, err
			}
			for i, w := range c.Webhooks {
				in.webhooks = append(in.webhooks, webhook{
					resource: "mutatingwebhookconfigurations", config: c.Name, index: i, name: w.Name,
					injectFrom: c.Annotations[cmapi.WantInjectAnnotation], clientConfig: w.ClientConfig, namespaceSelector: w.NamespaceSelector,
					matchConditions: w.MatchConditions,
				})
			}
		}
	}
	if len(deployments) != 1 {
		return nil, fmt.Errorf("the rendering has %d Deployments, want exactly one running canarygate serve", len(deployments))
	}
	if len(in.webhooks) == 0 {
		return nil, errors.New("the rendering has no webhook configurations")
	}
	d := deployments[0]
	in.deployment, in.namespace = d, d.Namespace
	if in.namespace == "" {
		return nil, fmt.Errorf("Deployment %s has no namespace", d.Name)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("Deployment %s/%s has %d containers, want one", d.Namespace, d.Name, len(d.Spec.Template.Spec.Containers))
	}
	in.container = d.Spec.Template.Spec.Containers[0]
	if len(in.container.Command) > 1 {
		in.args = append(in.args, in.container.Command[1:]...)
	}
	in.args = append(in.args, in.container.Args...)
	if len(in.args) == 0 || in.args[0] != "serve" {
		return nil, fmt.Errorf("Deployment %s/%s does not run `canarygate serve`: command %q, args %q", d.Namespace, d.Name, in.container.Command, in.container.Args)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" || !serviceAccounts[in.namespace+"/"+sa] {
		return nil, fmt.Errorf("Deployment %s/%s runs as ServiceAccount %q, which the rendering does not create", d.Namespace, d.Name, sa)
	}
	in.user = "system:serviceaccount:" + in.namespace + ":" + sa
	in.certDir, _ = flagValue(in.args, "cert-dir")
	if in.certDir == "" {
		return nil, fmt.Errorf("Deployment %s/%s runs serve without --cert-dir", d.Namespace, d.Name)
	}
	for _, m := range in.container.VolumeMounts {
		if m.MountPath != in.certDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				in.certSecret = v.Secret.SecretName
			}
		}
	}
	if in.certSecret == "" {
		return nil, fmt.Errorf("Deployment %s/%s mounts no Secret at --cert-dir %s", d.Namespace, d.Name, in.certDir)
	}
	return in, nil
}

// consistency lists every way the rendered pieces disagree with each other:
// a webhook calling a Service that is not rendered or whose port does not
// reach the server's --port, an inject-ca-from naming a Certificate that is
// not rendered, or whose Secret is not the one the server mounts, or whose
// DNS names do not cover the Service the API server dials.
func (in *install) consistency() []string {
	var problems []string
	port := in.serverPort()
	for _, w := range in.webhooks {
		if w.clientConfig.Service == nil {
			problems = append(problems, fmt.Sprintf("%s webhook %s: clientConfig names no Service", w.ref(), w.name))
			continue
		}
		ref := w.clientConfig.Service
		svc, ok := in.services[ref.Namespace+"/"+ref.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s webhook %s: calls Service %s/%s, which the rendering does not create", w.ref(), w.name, ref.Namespace, ref.Name))
			continue
		}
		svcPort := int32(443)
		if ref.Port != nil {
			svcPort = *ref.Port
		}
		if target, ok := in.targetPort(svc, svcPort); !ok || target != port {
			problems = append(problems, fmt.Sprintf("%s webhook %s: Service %s/%s port %d does not reach the server's --port %d", w.ref(), w.name, ref.Namespace, ref.Name, svcPort, port))
		}
		if ns := ref.Namespace; ns != in.namespace {
			problems = append(problems, fmt.Sprintf("%s webhook %s: calls a Service in %s, the server runs in %s", w.ref(), w.name, ns, in.namespace))
		}
		if w.injectFrom == "" {
			if len(w.clientConfig.CABundle) == 0 {
				problems = append(problems, fmt.Sprintf("%s: neither cert-manager.io/inject-ca-from nor a caBundle for webhook %s", w.ref(), w.name))
			}
			continue
		}
		crt, ok := in.certificates[w.injectFrom]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: cert-manager.io/inject-ca-from names Certificate %s, which the rendering does not create", w.ref(), w.injectFrom))
			continue
		}
		if crt.Spec.SecretName != in.certSecret {
			problems = append(problems, fmt.Sprintf("%s: Certificate %s writes Secret %s, the server mounts %s", w.ref(), w.injectFrom, crt.Spec.SecretName, in.certSecret))
		}
		if host := ref.Name + "." + ref.Namespace + ".svc"; !slices.Contains(crt.Spec.DNSNames, host) {
			problems = append(problems, fmt.Sprintf("%s webhook %s: the API server dials %s, which Certificate %s does not name (dnsNames %v)", w.ref(), w.name, host, w.injectFrom, crt.Spec.DNSNames))
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

// serverPort is the server's --port (9443 when not given).
func (in *install) serverPort() int32 {
	v, ok := flagValue(in.args, "port")
	if !ok {
		return 9443
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}

// targetPort follows a Service port to the container port it reaches.
func (in *install) targetPort(svc *corev1.Service, port int32) (int32, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Port != port {
			continue
		}
		if p.TargetPort.StrVal == "" {
			if p.TargetPort.IntVal == 0 {
				return p.Port, true
			}
			return p.TargetPort.IntVal, true
		}
		for _, cp := range in.container.Ports {
			if cp.Name == p.TargetPort.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// ofKind are the rendered objects of one kind (group/kind, "Namespace"
// for the core group).
func (in *install) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range in.objects {
		if u.GroupVersionKind().GroupKind().String() == kind {
			out = append(out, u)
		}
	}
	return out
}

// stream is objects as one multi-document YAML stream.
func stream(objects []*unstructured.Unstructured) (string, error) {
	var out bytes.Buffer
	for _, u := range objects {
		raw, err := yaml.Marshal(u.Object)
		if err != nil {
			return "", err
		}
		out.WriteString("---\n")
		out.Write(raw)
	}
	return out.String(), nil
}

// kubectlName is how kubectl names an object in apply's output
// (kind.group/name, kind/name for the core group).
func kubectlName(u *unstructured.Unstructured) string {
	kind := strings.ToLower(u.GetKind())
	if g := u.GroupVersionKind().Group; g != "" {
		kind += "." + g
	}
	return kind + "/" + u.GetName()
}

// flagValue finds --name=value or --name value in a command line. A flag
// given without a value reports ok with an empty value.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		switch {
		case a == "--"+name:
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				return args[i+1], true
			}
			return "", true
		case strings.HasPrefix(a, "--"+name+"="):
			return strings.TrimPrefix(a, "--"+name+"="), true
		}
	}
	return "", false
}

func convert(u *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("reading %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
