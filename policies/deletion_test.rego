package canarygate.builtin.rules.deletion_test

import data.canarygate.builtin.rules.deletion

# ------------------------------------------------------------- fixtures
#
# DELETE inputs shaped like pkg/validate Input for the cleanup of DESIGN §1
# step 5: the safe order is canary Ingress, then model-v1, then model-v2-svc.

kinds := {
	"InferenceService": {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
	"Service": {"group": "", "version": "v1", "kind": "Service"},
	"Ingress": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
}

# delete_doc is a DELETE of kind/name by user, with deletion facts d.
delete_doc(kind, name, d) := {
	"version": "v1",
	"request": {
		"uid": "0b5e6f3c-0000-4000-8000-000000000003", "operation": "DELETE",
		"kind": kinds[kind], "namespace": "default", "name": name, "dryRun": false,
		"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
	},
	"object": null,
	"oldObject": {"kind": kind, "metadata": {"name": name, "namespace": "default"}},
	"now": "2026-03-01T12:00:00Z",
	"now_ns": time.parse_rfc3339_ns("2026-03-01T12:00:00Z"),
	"namespace": {"name": "default", "labels": {}, "phase": "Active"},
	"switches": [], "exposures": [], "targets": {}, "stamps": [], "errors": [],
	"deletion": object.union({"selectingServices": [], "routingIngresses": [], "canaries": []}, d),
}

by(doc, user) := object.union(doc, {"request": {"userInfo": {"username": user, "groups": ["system:serviceaccounts"]}}})

terminating(doc) := object.union(doc, {"namespace": {"phase": "Terminating"}})

items(doc) := r if {
	r := deletion.items with input as doc
}

codes(doc) := {i.code | some i in items(doc)}

only(doc, code) := i if {
	found := [i | some i in items(doc); i.code == code]
	count(found) == 1
	i := found[0]
}

model_svc := {"namespace": "default", "name": "model-svc", "owned": false}

predictor_svc := {"namespace": "default", "name": "model-v1-predictor", "owned": true}

main_ingress := {"namespace": "default", "name": "model-ingress", "canary": false, "service": "model-v2-svc"}

canary_ingress := {"namespace": "default", "name": "gray-release-canary", "canary": true, "service": "model-v2-svc"}

still_selected := delete_doc("InferenceService", "model-v1", {"selectingServices": [model_svc, predictor_svc]})

still_routed := delete_doc("Service", "model-v2-svc", {"routingIngresses": [main_ingress, canary_ingress]})

canary_left := delete_doc("Ingress", "model-ingress", {"canaries": [canary_ingress]})

# ------------------------------------------------------------- CG501

test_cg501_isvc_still_selected_is_denied if {
	i := only(still_selected, "CG501")
	contains(i.message, "InferenceService default/model-v1: cannot delete: Service(s) model-svc still select it")
	not contains(i.message, "model-v1-predictor")
}

test_cg501_isvc_selected_only_by_owned_services_is_allowed if {
	count(items(delete_doc("InferenceService", "model-v1", {"selectingServices": [predictor_svc]}))) == 0
}

test_cg501_isvc_no_longer_selected_is_allowed if {
	count(items(delete_doc("InferenceService", "model-v1", {}))) == 0
}

test_cg501_only_on_delete if {
	doc := object.union(still_selected, {
		"request": {"operation": "UPDATE"},
		"object": {"kind": "InferenceService", "metadata": {"name": "model-v1", "namespace": "default"}},
	})
	count(items(doc)) == 0
}

# ------------------------------------------------------------- CG502

test_cg502_service_still_routed_is_denied if {
	i := only(still_routed, "CG502")
	contains(i.message, "Service default/model-v2-svc: cannot delete: Ingress(es) default/model-ingress, default/gray-release-canary still route to it")
}

test_cg502_service_no_longer_routed_is_allowed if {
	count(items(delete_doc("Service", "model-v2-svc", {}))) == 0
}

# ------------------------------------------------------------- CG503

test_cg503_main_route_with_canary_is_denied if {
	i := only(canary_left, "CG503")
	contains(i.message, "Ingress default/model-ingress: cannot delete this main route while canary Ingress(es) default/gray-release-canary exist")
}

test_cg503_main_route_without_canary_is_allowed if {
	count(items(delete_doc("Ingress", "model-ingress", {}))) == 0
}

test_cg503_canary_ingress_deletion_is_allowed if {
	# Go gathers no canaries for a canary Ingress: removing the canary first is the safe order
	count(items(delete_doc("Ingress", "gray-release-canary", {}))) == 0
}

# ------------------------------------------------------------- exemptions

test_cg50x_guards_do_not_apply_to_the_controller_manager if {
	every doc in [still_selected, still_routed, canary_left] {
		count(items(by(doc, "system:kube-controller-manager"))) == 0
	}
}

test_cg50x_guards_do_not_apply_to_the_garbage_collector if {
	every doc in [still_selected, still_routed, canary_left] {
		count(items(by(doc, "system:serviceaccount:kube-system:generic-garbage-collector"))) == 0
	}
}

test_cg50x_guards_do_not_apply_to_the_namespace_controller if {
	every doc in [still_selected, still_routed, canary_left] {
		count(items(by(doc, "system:serviceaccount:kube-system:namespace-controller"))) == 0
	}
}

test_cg50x_guards_do_not_apply_in_a_terminating_namespace if {
	every doc in [still_selected, still_routed, canary_left] {
		count(items(terminating(doc))) == 0
	}
}

test_cg50x_guards_apply_to_other_users if {
	codes(by(still_selected, "system:serviceaccount:argocd:argocd-application-controller")) == {"CG501"}
	codes(by(still_routed, "system:serviceaccount:kube-system:replicaset-controller")) == {"CG502"}
	codes(by(canary_left, "kube-controller-manager")) == {"CG503"}
}

test_cg50x_guards_apply_in_an_active_namespace if {
	codes(still_selected) == {"CG501"}
	codes(still_routed) == {"CG502"}
	codes(canary_left) == {"CG503"}
}
