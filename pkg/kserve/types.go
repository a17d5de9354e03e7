// Package kserve holds the minimal InferenceService shape canarygate reads.
// It deliberately does not import KServe's module: canarygate only needs
// metadata, the opaque spec (to detect spec changes) and the status
// conditions, and KServe's module pulls in a dependency tree far larger than
// canarygate itself.
package kserve

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, Version and Kind of the InferenceService API served by KServe.
const (
	Group    = "serving.kserve.io"
	Version  = "v1beta1"
	Kind     = "InferenceService"
	Resource = "inferenceservices"
)

// GroupVersion is serving.kserve.io/v1beta1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// GroupVersionKind is the InferenceService kind.
var GroupVersionKind = GroupVersion.WithKind(Kind)

// InferenceService is the subset of KServe's InferenceService canarygate
// uses. Spec is kept as raw JSON so a round trip never drops fields.
type InferenceService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   json.RawMessage `json:"spec,omitempty"`
	Status Status          `json:"status,omitempty"`
}

// Status is the part of the InferenceService status canarygate reads.
type Status struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
}

// Condition is a KServe (knative-style) status condition.
type Condition struct {
	Type               string      `json:"type"`
	Status             string      `json:"status"`
	Reason             string      `json:"reason,omitempty"`
	Message            string      `json:"message,omitempty"`
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitzero"`
}

// Ready reports whether the Ready condition is True and, when the status
// carries an observedGeneration, whether it matches metadata.generation (a
// status written for an older spec says nothing about the current one).
func (s *InferenceService) Ready() bool {
	if s.Status.ObservedGeneration != 0 && s.Status.ObservedGeneration != s.Generation {
		return false
	}
	for _, c := range s.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// DeepCopyInto copies the receiver into out.
func (s *InferenceService) DeepCopyInto(out *InferenceService) {
	*out = *s
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if s.Spec != nil {
		out.Spec = append(json.RawMessage(nil), s.Spec...)
	}
	if s.Status.Conditions != nil {
		out.Status.Conditions = make([]Condition, len(s.Status.Conditions))
		for i := range s.Status.Conditions {
			out.Status.Conditions[i] = s.Status.Conditions[i]
			s.Status.Conditions[i].LastTransitionTime.DeepCopyInto(&out.Status.Conditions[i].LastTransitionTime)
		}
	}
}

// DeepCopy returns a deep copy of the receiver.
func (s *InferenceService) DeepCopy() *InferenceService {
	if s == nil {
		return nil
	}
	out := new(InferenceService)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (s *InferenceService) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// InferenceServiceList is a list of InferenceServices, needed by informers.
type InferenceServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []InferenceService `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (l *InferenceServiceList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &InferenceServiceList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]InferenceService, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// AddToScheme registers the InferenceService types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &InferenceService{}, &InferenceServiceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
