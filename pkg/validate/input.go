package validate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/mutate"
)

// InputVersion is the version of the policy input document. Platform
// bundles are written against it; a change that removes or renames a field
// bumps it (policies/README.md documents every field).
const InputVersion = "v1"

// Input is the document the policies decide on: the request, and every fact
// about related objects the built-in rules need, gathered in Go so Rego
// never looks anything up.
type Input struct {
	Version string `json:"version"`
	// Endpoint is the validating endpoint asking ("gate" or "lint"); empty
	// asks for both (as `check` does). Rules of the other endpoint need not
	// be evaluated.
	Endpoint  string         `json:"endpoint,omitempty"`
	Request   RequestInfo    `json:"request"`
	Object    map[string]any `json:"object"`
	OldObject map[string]any `json:"oldObject"`
	// Now is the decision time (RFC 3339) and NowNs the same in Unix
	// nanoseconds; rules never call time.now_ns, so `check` and tests are
	// reproducible.
	Now   string `json:"now"`
	NowNs int64  `json:"now_ns"`
	// Namespace is the request's namespace.
	Namespace NamespaceInfo `json:"namespace"`
	// Ingress is set for Ingress requests.
	Ingress *IngressFacts `json:"ingress,omitempty"`
	// Service is set for Service requests.
	Service *ServiceFacts `json:"service,omitempty"`
	// Switches lists every change of a primary the request causes.
	Switches []Switch `json:"switches"`
	// Exposures lists every canary strategy the request sets.
	Exposures []Exposure `json:"exposures"`
	// Targets holds the InferenceServices named by switches, exposures and
	// rollback stamps, keyed "namespace/name", read after the request.
	Targets map[string]Target `json:"targets"`
	// Stamps are the expectations of the object's stamps.
	Stamps []mutate.Expectation `json:"stamps"`
	// Deletion is set for DELETE requests.
	Deletion *DeletionFacts `json:"deletion,omitempty"`
	// Errors lists lookups that failed; gate rules deny on them.
	Errors []string `json:"errors"`
}

// RequestInfo is the part of the admission request rules read.
type RequestInfo struct {
	UID       string   `json:"uid"`
	Operation string   `json:"operation"`
	Kind      GVK      `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	DryRun    bool     `json:"dryRun"`
	UserInfo  UserInfo `json:"userInfo"`
}

// GVK is a group, version and kind.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// UserInfo is who makes the request.
type UserInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// NamespaceInfo describes the request's namespace. A namespace the facts do
// not know is Active with no labels.
type NamespaceInfo struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Phase  string            `json:"phase"`
}

// SpecFacts is a canary strategy as the traffic provider reads it.
type SpecFacts struct {
	Weight         int    `json:"weight"`
	WeightTotal    int    `json:"weightTotal"`
	EffectiveTotal int    `json:"effectiveTotal"`
	Header         string `json:"header"`
	HeaderValue    string `json:"headerValue"`
	HeaderPattern  string `json:"headerPattern"`
	Cookie         string `json:"cookie"`
	Exposes        bool   `json:"exposes"`
	Full           bool   `json:"full"`
}

func specFacts(s canary.Spec) SpecFacts {
	total := s.WeightTotal
	if total == 0 {
		total = canary.DefaultWeightTotal
	}
	return SpecFacts{
		Weight: s.Weight, WeightTotal: total, EffectiveTotal: s.EffectiveTotal(),
		Header: s.Header, HeaderValue: s.HeaderValue, HeaderPattern: s.HeaderPattern,
		Cookie: s.Cookie, Exposes: s.Exposes(), Full: s.Full(),
	}
}

// IngressFacts describes an Ingress request: its class, whether it is a
// canary, and the other Ingresses sharing its route keys and Services, all
// after the request.
type IngressFacts struct {
	Class    string `json:"class"`
	Governed bool   `json:"governed"`
	// Canary reports whether ingress-nginx treats the object as a canary.
	Canary bool `json:"canary"`
	// Spec is the strategy ingress-nginx reads from the object.
	Spec SpecFacts `json:"spec"`
	// Routes are the object's route keys (the old object's on DELETE).
	Routes []RouteFacts `json:"routes"`
	// Abandoned are the route keys an UPDATE takes away from a main route
	// (the key left the Ingress, or the Ingress stopped being a governed
	// main route), each with the canaries still on it after the request.
	Abandoned []AbandonedRoute `json:"abandoned"`
}

// AbandonedRoute is a route key a main route gives up.
type AbandonedRoute struct {
	Key      facts.RouteKey `json:"key"`
	Canaries []IngressRef   `json:"canaries"`
}

// IngressRef is another Ingress relevant to a decision.
type IngressRef struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Canary    bool            `json:"canary"`
	Service   string          `json:"service,omitempty"`
	ISVC      string          `json:"isvc,omitempty"`
	Key       *facts.RouteKey `json:"key,omitempty"`
}

// RouteFacts describes one route key of the object.
type RouteFacts struct {
	Key   facts.RouteKey `json:"key"`
	Field string         `json:"field"`
	// Service is the backend Service of this path and ISVC the
	// InferenceService it selects ("" when none).
	Service string `json:"service"`
	ISVC    string `json:"isvc"`
	// Mains and Canaries are the other Ingresses with this key.
	Mains    []IngressRef `json:"mains"`
	Canaries []IngressRef `json:"canaries"`
	// ServiceUsers are the routes of other Ingresses (any key but this one)
	// using this path's backend Service.
	ServiceUsers []IngressRef `json:"serviceUsers"`
	// MainServiceUsers are the routes other than the main route's own key
	// that use the main route's Service (they are canaried too).
	MainServiceUsers []IngressRef `json:"mainServiceUsers"`
}

// ServiceFacts describes a Service request.
type ServiceFacts struct {
	// Before and After are the InferenceService names the Service selects.
	Before string `json:"before"`
	After  string `json:"after"`
}

// Switch is a change of the primary of a route key or a model Service.
type Switch struct {
	// Subject names the route or Service in messages.
	Subject string `json:"subject"`
	Field   string `json:"field"`
	// From and To are the primaries before and after ("" name = none).
	From facts.Ref `json:"from"`
	To   facts.Ref `json:"to"`
	// Main and MainBefore are what the route's main route itself resolves
	// to after and before the request: switching to an unchanged main
	// backs out of a full-weight canary. Both are empty for Services.
	Main       facts.Ref `json:"main"`
	MainBefore facts.Ref `json:"mainBefore"`
}

// Exposure is a canary strategy routing traffic to a target.
type Exposure struct {
	Subject string     `json:"subject"`
	Field   string     `json:"field"`
	Target  facts.Ref  `json:"target"`
	Spec    SpecFacts  `json:"spec"`
	Old     *SpecFacts `json:"old"`
}

// Target is an InferenceService a decision depends on.
type Target struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Exists    bool   `json:"exists"`
	// Unreadable is set when the lookup failed: Exists is then unknown.
	Unreadable         bool              `json:"unreadable"`
	Generation         int64             `json:"generation"`
	ObservedGeneration int64             `json:"observedGeneration"`
	Conditions         map[string]string `json:"conditions"`
	Annotations        map[string]string `json:"annotations"`
	Labels             map[string]string `json:"labels"`
	// Verified is canarygate.io/verified as declared (annotation wins).
	Verified bool `json:"verified"`
	// CanarySince is the oldest canary-since of the canary Ingresses that
	// route to it ("" when none).
	CanarySince string `json:"canarySince"`
}

// DeletionFacts are what the deletion guards need, after the deletion.
type DeletionFacts struct {
	// SelectingServices: for an InferenceService, the Services still
	// selecting it; OwnedBy marks those it controls.
	SelectingServices []ServiceRef `json:"selectingServices"`
	// RoutingIngresses: for a Service, the Ingresses still routing to it.
	RoutingIngresses []IngressRef `json:"routingIngresses"`
	// Canaries: for a main Ingress, the canaries of its route keys.
	Canaries []IngressRef `json:"canaries"`
}

// ServiceRef names a Service.
type ServiceRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Owned     bool   `json:"owned"`
}

func content(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	return u.Object
}
