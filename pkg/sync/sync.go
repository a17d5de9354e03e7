// Package sync is the controller that keeps canary Ingresses in step with
// their InferenceService's declaration. Admission alone cannot: in a bulk
// apply the canary Ingress may arrive before its Service or InferenceService,
// and a later `kubectl annotate isvc … canarygate.io/weight=30` changes the
// declaration without touching the Ingress. The controller writes what the
// mutating webhook would inject, with an ordinary update that passes through
// the webhooks like any client's, so the gate judges it too.
package sync

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/mutate"
)

// Event reasons recorded on the InferenceService.
const (
	ReasonUpdated = "CanaryIngressUpdated"
	ReasonRefused = "CanaryIngressRefused"
)

// Reconciler brings one canary Ingress to the strategy its InferenceService
// declares.
type Reconciler struct {
	Client  client.Client
	Facts   facts.Reader
	Classes facts.Classes
	Events  events.EventRecorder
}

// Reconcile implements reconcile.Reconciler. It never requeues a refused
// update: the refusal is recorded as an Event, and the next change to the
// InferenceService, its Services or the Ingress triggers a new attempt, so
// a denial cannot turn into a loop.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	ing := &networkingv1.Ingress{}
	if err := r.Client.Get(ctx, req.NamespacedName, ing); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !ing.DeletionTimestamp.IsZero() || !r.Classes.Governed(ing) {
		return reconcile.Result{}, nil
	}
	inj, _, err := mutate.InjectionFor(ctx, r.Facts, ing)
	if err != nil || inj == nil {
		return reconcile.Result{}, err
	}
	want := inj.Declaration.Spec.Nginx()
	have := map[string]string{}
	for _, k := range canary.StrategyKeys {
		if v, ok := ing.Annotations[k]; ok {
			have[k] = v
		}
	}
	if maps.Equal(have, want) {
		return reconcile.Result{}, nil
	}
	patched := ing.DeepCopy()
	for _, k := range canary.StrategyKeys {
		delete(patched.Annotations, k)
	}
	maps.Copy(patched.Annotations, want)
	isvc := &kserve.InferenceService{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: inj.Source.Namespace, Name: inj.Source.Name}, isvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	err = r.Client.Patch(ctx, patched, client.MergeFrom(ing))
	switch {
	case err == nil:
		log.Info("canary Ingress brought to the declared strategy", "ingress", req.NamespacedName, "isvc", inj.Source.Name, "annotations", describe(want))
		r.Events.Eventf(isvc, ing, corev1.EventTypeNormal, ReasonUpdated, "Sync",
			"Ingress %s set to %s", ing.Name, describe(want))
		return reconcile.Result{}, nil
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		log.Info("canary Ingress update refused", "ingress", req.NamespacedName, "isvc", inj.Source.Name, "reason", err.Error())
		r.Events.Eventf(isvc, ing, corev1.EventTypeWarning, ReasonRefused, "Sync",
			"Ingress %s was not updated to %s: %v", ing.Name, describe(want), err)
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, fmt.Errorf("updating Ingress %s: %w", req.NamespacedName, err)
}

func describe(ann map[string]string) string {
	if len(ann) == 0 {
		return "no strategy (weight 0)"
	}
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", strings.TrimPrefix(k, canary.NginxPrefix), ann[k])
	}
	return strings.Join(parts, ", ")
}

// SetupWithManager registers the controller: it reconciles canary
// Ingresses, and maps InferenceService and Service changes to the canary
// Ingresses they feed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	isCanary := predicate.NewPredicateFuncs(func(o client.Object) bool {
		ing, ok := o.(*networkingv1.Ingress)
		return ok && facts.IsCanary(ing)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("canary-sync").
		For(&networkingv1.Ingress{}, builder.WithPredicates(isCanary)).
		Watches(&kserve.InferenceService{}, handler.EnqueueRequestsFromMapFunc(r.fromInferenceService),
			builder.WithPredicates(keysChanged())).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.fromService)).
		Complete(r)
}

// keysChanged passes InferenceService events whose labels or annotations
// changed (canary keys, verification); spec and status changes are ignored.
func keysChanged() predicate.Predicate {
	return predicate.Or[client.Object](predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
}

func (r *Reconciler) fromInferenceService(ctx context.Context, o client.Object) []reconcile.Request {
	svcs, err := r.Facts.ServicesSelecting(ctx, o.GetNamespace(), o.GetName())
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, s := range svcs {
		out = append(out, r.canariesRoutingTo(ctx, s.Namespace, s.Name)...)
	}
	return out
}

func (r *Reconciler) fromService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.canariesRoutingTo(ctx, o.GetNamespace(), o.GetName())
}

func (r *Reconciler) canariesRoutingTo(ctx context.Context, ns, svc string) []reconcile.Request {
	ings, err := r.Facts.IngressesRoutingTo(ctx, ns, svc)
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, ing := range ings {
		if facts.IsCanary(ing) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		}
	}
	return out
}
