package deploy

import (
	"context"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
)

// startCAInjector runs cert-manager's CA injector in this process against
// cfg, wired as cert-manager's own cainjector binary wires it
// (cmd/cainjector/app: a controller-runtime manager whose client reads
// Secrets uncached, every injectable kind enabled, the Certificate data
// source on), minus leader election and metrics. It runs until ctx ends;
// the returned channel reports how the manager stopped.
func startCAInjector(ctx context.Context, cfg *rest.Config) (<-chan error, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmscheme.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "cainjector"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   cache.Options{ReaderFailOnMissingInformer: true},
		Client:  client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Every rendering runs its own injector in this process: the
		// controller names repeat.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the cainjector manager: %w", err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("registering cert-manager's injectors: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, nil
}

// loopback is the address the test's server listens on. The serving
// certificate names it besides the Certificate's DNS names, because the
// API server reaches the local server by URL, not through the Service.
var loopback = net.ParseIP("127.0.0.1")

// issuedSecret is the Secret cert-manager's issuing controller writes for
// crt once ca has signed it: type kubernetes.io/tls with ca.crt, tls.crt and
// tls.key, the certificate-name annotation the injector insists on, and the
// other annotations and label cert-manager sets. An isCA Certificate gets
// the CA itself (the self-signed Issuer's result); any other gets a serving
// certificate for its DNS names and the loopback address.
func issuedSecret(crt *cmapi.Certificate, ca *authority) (*corev1.Secret, error) {
	pair := ca.self()
	ips := []string{}
	if !crt.Spec.IsCA {
		var err error
		if pair, err = ca.issue(crt.Spec.DNSNames, []net.IP{loopback}); err != nil {
			return nil, err
		}
		ips = append(ips, loopback.String())
	}
	kind, group := crt.Spec.IssuerRef.Kind, crt.Spec.IssuerRef.Group
	if kind == "" {
		kind = cmapi.IssuerKind
	}
	if group == "" {
		group = "cert-manager.io"
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      crt.Spec.SecretName,
			Namespace: crt.Namespace,
			Labels:    map[string]string{cmapi.PartOfCertManagerControllerLabelKey: "true"},
			Annotations: map[string]string{
				cmapi.CertificateNameKey:       crt.Name,
				cmapi.IssuerNameAnnotationKey:  crt.Spec.IssuerRef.Name,
				cmapi.IssuerKindAnnotationKey:  kind,
				cmapi.IssuerGroupAnnotationKey: group,
				cmapi.CommonNameAnnotationKey:  crt.Spec.CommonName,
				cmapi.AltNamesAnnotationKey:    strings.Join(crt.Spec.DNSNames, ","),
				cmapi.IPSANAnnotationKey:       strings.Join(ips, ","),
				cmapi.URISANAnnotationKey:      "",
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			cmmeta.TLSCAKey:         ca.certPEM,
			corev1.TLSCertKey:       pair.certPEM,
			corev1.TLSPrivateKeyKey: pair.keyPEM,
		},
	}, nil
}

// userSecret is the Secret a user creates with `kubectl create secret tls`
// when installing without cert-manager.
func userSecret(namespace, name string, pair keyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: pair.certPEM, corev1.TLSPrivateKeyKey: pair.keyPEM},
	}
}
