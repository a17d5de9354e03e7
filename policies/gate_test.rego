package canarygate.builtin.rules.gate_test

import data.canarygate.builtin.rules.gate

# ------------------------------------------------------------- fixtures
#
# Inputs shaped like pkg/validate Input for the reference scenario of
# DESIGN §1: namespace default, model-v1 (stable) and model-v2 (canary),
# Service model-svc, canary Ingress gray-release-canary. The switch is step 4:
# model-svc's selector moves from model-v1 to model-v2.

now := "2026-03-01T12:00:00Z"

now_ns := time.parse_rfc3339_ns(now)

# minutes_ago is an RFC 3339 time n minutes before now.
minutes_ago(n) := time.format([now_ns - ((n * 60) * 1000000000), "UTC", "2006-01-02T15:04:05Z07:00"])

none := {"namespace": "", "name": ""}

ref(name) := {"namespace": "default", "name": name} if name != ""

else := none

key(name) := sprintf("default/%s", [name])

# v2 is model-v2 as the gate wants it: Ready at its current generation 2,
# verified by bob at generation 2, exposed by a canary two hours ago.
v2 := {
	"namespace": "default", "name": "model-v2", "exists": true,
	"generation": 2, "observedGeneration": 2,
	"conditions": {"Ready": "True", "PredictorReady": "True"},
	"annotations": {
		"canarygate.io/stable": "model-v1",
		"canarygate.io/verified": "true",
		"canarygate.io/verified-by": "bob",
		"canarygate.io/verified-at": minutes_ago(90),
		"canarygate.io/verified-generation": "2",
	},
	"labels": {},
	"verified": true,
	"canarySince": minutes_ago(120),
}

# v2_unverified is model-v2 Ready but never verified.
v2_unverified := {
	"namespace": "default", "name": "model-v2", "exists": true,
	"generation": 2, "observedGeneration": 2,
	"conditions": {"Ready": "True"},
	"annotations": {"canarygate.io/stable": "model-v1"},
	"labels": {},
	"verified": false,
	"canarySince": minutes_ago(120),
}

v2_missing := {
	"namespace": "default", "name": "model-v2", "exists": false,
	"generation": 0, "observedGeneration": 0,
	"conditions": {}, "annotations": {}, "labels": {},
	"verified": false, "canarySince": "",
}

# v1 is the stable model-v1: Ready at generation 3, never verified (a stable
# InferenceService deployed before canarygate carries no verification).
v1 := {
	"namespace": "default", "name": "model-v1", "exists": true,
	"generation": 3, "observedGeneration": 3,
	"conditions": {"Ready": "True"},
	"annotations": {}, "labels": {},
	"verified": false, "canarySince": "",
}

targets(ts) := {sprintf("%s/%s", [t.namespace, t.name]): t | some t in ts}

svc_object(isvc, annotations) := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": "model-svc", "namespace": "default", "generation": 1, "annotations": annotations},
	"spec": {
		"ports": [{"port": 80, "targetPort": 8080}],
		"selector": {"serving.kserve.io/inferenceservice": isvc},
	},
}

request(op, kind, name) := {
	"uid": "0b5e6f3c-0000-4000-8000-000000000001", "operation": op,
	"kind": kind, "namespace": "default", "name": name, "dryRun": false,
	"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
}

service_kind := {"group": "", "version": "v1", "kind": "Service"}

ingress_kind := {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}

isvc_kind := {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"}

base(req) := {
	"version": "v1",
	"request": req,
	"object": null,
	"oldObject": null,
	"now": now,
	"now_ns": now_ns,
	"namespace": {"name": "default", "labels": {}, "phase": "Active"},
	"switches": [], "exposures": [], "targets": {}, "stamps": [], "errors": [],
}

service_switch_item(from, to) := {
	"subject": "Service default/model-svc", "field": "spec.selector",
	"from": ref(from), "to": ref(to), "main": none, "mainBefore": none,
}

# service_update is step 4: an UPDATE of model-svc's selector from `from` to
# `to`, the old object carrying old_ann.
service_update(from, to, old_ann, ts) := object.union(base(request("UPDATE", service_kind, "model-svc")), {
	"object": svc_object(to, old_ann),
	"oldObject": svc_object(from, old_ann),
	"service": {"before": from, "after": to},
	"switches": [service_switch_item(from, to)],
	"targets": targets(ts),
})

# switch_doc is step 4 with model-v2 described by t.
switch_doc(t) := service_update("model-v1", "model-v2", {}, [v1, t])

route_key := {"class": "nginx", "host": "model.example.com", "path": "/", "pathType": "Prefix"}

route_subject := "route nginx model.example.com / Prefix"

route_switch_item(from, to, main, main_before) := {
	"subject": route_subject, "field": "spec.rules[0].http.paths[0]",
	"from": ref(from), "to": ref(to), "main": ref(main), "mainBefore": ref(main_before),
}

# route_switch is an Ingress UPDATE whose route key changes primary.
route_switch(name, sw, ts) := object.union(base(request("UPDATE", ingress_kind, name)), {
	"object": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": "default"}},
	"oldObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": "default"}},
	"switches": [sw],
	"targets": targets(ts),
})

bool(x) if x

else := false

spec(weight, total) := {
	"weight": weight,
	"weightTotal": total,
	"effectiveTotal": max([100, total]),
	"header": "", "headerValue": "", "headerPattern": "", "cookie": "",
	"exposes": bool(weight > 0),
	"full": bool(weight >= max([100, total])),
}

header_spec(header, value, pattern) := object.union(spec(0, 100), {
	"header": header, "headerValue": value, "headerPattern": pattern,
	"exposes": true,
})

# exposure_doc is step 3: the canary Ingress written with strategy s (old
# strategy old, null on CREATE) towards model-v2 described by t.
exposure_doc(s, old, t) := object.union(base(request("UPDATE", ingress_kind, "gray-release-canary")), {
	"object": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "gray-release-canary", "namespace": "default"}},
	"oldObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "gray-release-canary", "namespace": "default"}},
	"exposures": [{
		"subject": "Ingress default/gray-release-canary",
		"field": "metadata.annotations",
		"target": ref("model-v2"),
		"spec": s,
		"old": old,
	}],
	"targets": targets([t]),
})

isvc_object(labels, annotations) := {
	"apiVersion": "serving.kserve.io/v1beta1",
	"kind": "InferenceService",
	"metadata": {"name": "model-v2", "namespace": "default", "generation": 2, "labels": labels, "annotations": annotations},
	"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/canary"}}},
}

# isvc_update is an UPDATE of model-v2's annotations by user in groups.
isvc_update(old_ann, new_ann, labels, user, groups) := isvc_update_labels(old_ann, new_ann, labels, labels, user, groups)

isvc_update_labels(old_ann, new_ann, old_labels, new_labels, user, groups) := object.union(base(request("UPDATE", isvc_kind, "model-v2")), {
	"request": {"userInfo": {"username": user, "groups": groups}},
	"object": isvc_object(new_labels, new_ann),
	"oldObject": isvc_object(old_labels, old_ann),
})

as_user(doc, user, groups) := object.union(doc, {"request": {"userInfo": {"username": user, "groups": groups}}})

items(doc) := r if {
	r := gate.items with input as doc
}

items_with(doc, settings) := r if {
	r := gate.items with input as doc with data.canarygate.config as {"settings": settings}
}

codes(its) := {i.code | some i in its}

# the single item of code, for message and field assertions.
only(its, code) := i if {
	found := [i | some i in its; i.code == code]
	count(found) == 1
	i := found[0]
}

# ------------------------------------------------------------- CG301 switch

test_cg301_switch_to_verified_target_is_allowed if {
	count(items(switch_doc(v2))) == 0
}

test_cg301_switch_to_missing_target_is_denied if {
	i := only(items(switch_doc(v2_missing)), "CG301")
	i.field == "spec.selector"
	contains(i.message, "Service default/model-svc")
	contains(i.message, "from model-v1 to model-v2")
	contains(i.message, "it does not exist")
	contains(i.message, "kubectl annotate inferenceservice model-v2 -n default canarygate.io/verified=true")
}

test_cg301_target_absent_from_facts_counts_as_unverified if {
	i := only(items(service_update("model-v1", "model-v2", {}, [v1])), "CG301")
	contains(i.message, "it could not be read")
}

test_cg301_switch_to_target_not_ready_is_denied if {
	t := object.union(v2, {"conditions": {"Ready": "False"}})
	i := only(items(switch_doc(t)), "CG301")
	contains(i.message, "it is not Ready")
}

test_cg301_switch_to_target_without_ready_condition_is_denied if {
	t := json.patch(v2, [{"op": "replace", "path": "/conditions", "value": {}}])
	i := only(items(switch_doc(t)), "CG301")
	contains(i.message, "it is not Ready")
}

test_cg301_ready_for_an_older_generation_is_denied if {
	t := object.union(v2, {"observedGeneration": 1})
	i := only(items(switch_doc(t)), "CG301")
	contains(i.message, "its status describes generation 1, not the current generation 2")
}

test_cg301_missing_observed_generation_is_not_a_problem if {
	t := object.union(v2, {"observedGeneration": 0})
	count(items(switch_doc(t))) == 0
}

test_cg301_switch_to_unverified_target_is_denied if {
	i := only(items(switch_doc(v2_unverified)), "CG301")
	contains(i.message, "it is not marked verified")
	not contains(i.message, "not Ready")
}

test_cg301_verified_false_is_not_verified if {
	t := object.union(v2, {"verified": false, "annotations": {"canarygate.io/verified": "false"}})
	codes(items(switch_doc(t))) == {"CG301"}
}

test_cg301_verification_of_an_older_generation_is_stale if {
	t := object.union(v2, {"annotations": {"canarygate.io/verified-generation": "1"}})
	i := only(items(switch_doc(t)), "CG301")
	contains(i.message, `it was verified at generation "1" but is now at generation 2`)
}

test_cg301_verification_without_generation_stamp_is_stale if {
	t := json.patch(v2, [{"op": "remove", "path": "/annotations/canarygate.io~1verified-generation"}])
	codes(items(switch_doc(t))) == {"CG301"}
}

test_cg301_min_soak_not_reached_is_denied if {
	t := object.union(v2, {"canarySince": minutes_ago(5)})
	i := only(items_with(switch_doc(t), {"min_soak_seconds": 600}), "CG301")
	contains(i.message, "its canary has soaked 300 s of the required 600 s")
}

test_cg301_min_soak_reached_is_allowed if {
	t := object.union(v2, {"canarySince": minutes_ago(11)})
	count(items_with(switch_doc(t), {"min_soak_seconds": 600})) == 0
}

test_cg301_min_soak_exactly_reached_is_allowed if {
	t := object.union(v2, {"canarySince": minutes_ago(10)})
	count(items_with(switch_doc(t), {"min_soak_seconds": 600})) == 0
}

test_cg301_min_soak_without_any_canary_is_denied if {
	t := object.union(v2, {"canarySince": ""})
	i := only(items_with(switch_doc(t), {"min_soak_seconds": 600}), "CG301")
	contains(i.message, "it has not been exposed by a canary yet")
}

test_cg301_min_soak_zero_ignores_canary_since if {
	t := object.union(v2, {"canarySince": ""})
	count(items(switch_doc(t))) == 0
}

test_cg301_min_soak_with_unreadable_canary_since_is_denied if {
	t := object.union(v2, {"canarySince": "yesterday"})
	codes(items_with(switch_doc(t), {"min_soak_seconds": 600})) == {"CG301"}
}

test_cg301_min_soak_fractional_seconds_message if {
	t := object.union(v2, {"canarySince": "2026-03-01T11:55:00.5Z"})
	i := only(items_with(switch_doc(t), {"min_soak_seconds": 600}), "CG301")
	contains(i.message, "soaked 299 s of the required 600 s")
}

test_cg301_distinct_verifier_required_denies_the_verifier if {
	t := object.union(v2, {"annotations": {"canarygate.io/verified-by": "alice"}})
	i := only(items_with(switch_doc(t), {"require_distinct_verifier": true}), "CG301")
	contains(i.message, "it was verified by alice, who may not also switch it")
}

test_cg301_distinct_verifier_required_allows_another_user if {
	count(items_with(switch_doc(v2), {"require_distinct_verifier": true})) == 0
}

test_cg301_distinct_verifier_off_allows_the_verifier if {
	t := object.union(v2, {"annotations": {"canarygate.io/verified-by": "alice"}})
	count(items(switch_doc(t))) == 0
}

test_cg301_every_reason_is_listed if {
	t := object.union(v2_unverified, {"conditions": {"Ready": "False"}, "observedGeneration": 1})
	i := only(items(switch_doc(t)), "CG301")
	contains(i.message, "it is not Ready")
	contains(i.message, "not the current generation 2")
	contains(i.message, "it is not marked verified")
}

# DESIGN §4: "From no primary to any: allowed (first deployment)".
test_cg301_first_deployment_of_a_service_is_allowed_unverified if {
	doc := object.union(base(request("CREATE", service_kind, "model-svc")), {
		"object": svc_object("model-v2", {}),
		"service": {"before": "", "after": "model-v2"},
		"switches": [service_switch_item("", "model-v2")],
		"targets": targets([v2_missing]),
	})
	count(items(doc)) == 0
}

test_cg301_first_deployment_of_a_route_is_allowed_unverified if {
	doc := route_switch("model-ingress", route_switch_item("", "model-v1", "model-v1", ""), [v1])
	count(items(doc)) == 0
}

test_cg301_service_selecting_a_model_for_the_first_time_is_allowed if {
	# the Service selected no InferenceService before (a non-model Service)
	doc := service_update("", "model-v2", {}, [v2_unverified])
	count(items(doc)) == 0
}

# Backing out of a full-weight canary: the canary Ingress goes from weight 100
# to 0, the primary goes back to what the unchanged main route resolves to.
test_cg301_backing_out_to_the_unchanged_main_is_allowed if {
	doc := route_switch("gray-release-canary", route_switch_item("model-v2", "model-v1", "model-v1", "model-v1"), [v1, v2_unverified])
	count(items(doc)) == 0
}

test_cg301_main_route_backend_change_is_not_backing_out if {
	# model-ingress now routes to model-v2-svc: to == main, but main changed
	doc := route_switch("model-ingress", route_switch_item("model-v1", "model-v2", "model-v2", "model-v1"), [v1, v2_unverified])
	i := only(items(doc), "CG301")
	i.field == "spec.rules[0].http.paths[0]"
	contains(i.message, route_subject)
	contains(i.message, "from model-v1 to model-v2")
}

test_cg301_main_route_backend_change_to_verified_is_allowed if {
	doc := route_switch("model-ingress", route_switch_item("model-v1", "model-v2", "model-v2", "model-v1"), [v1, v2])
	count(items(doc)) == 0
}

test_cg301_full_weight_canary_to_unverified_is_denied if {
	# the canary becomes the primary while the main route stays on model-v1
	doc := route_switch("gray-release-canary", route_switch_item("model-v1", "model-v2", "model-v1", "model-v1"), [v1, v2_unverified])
	codes(items(doc)) == {"CG301"}
}

test_cg301_switch_to_unresolved_main_is_not_backing_out if {
	# ambiguous main routes: Go leaves main empty; an empty main never exempts
	doc := route_switch("model-ingress-2", route_switch_item("model-v1", "model-v2", "", "model-v1"), [v1, v2_unverified])
	codes(items(doc)) == {"CG301"}
}

rollback_stamps := {"canarygate.io/previous-isvc": "model-v1", "canarygate.io/previous-generation": "3"}

test_cg301_rollback_to_previous_isvc_at_recorded_generation_is_allowed if {
	doc := service_update("model-v2", "model-v1", rollback_stamps, [v1, v2])
	count(items(doc)) == 0
}

test_cg301_rollback_after_the_previous_isvc_changed_is_denied if {
	doc := service_update("model-v2", "model-v1", rollback_stamps, [object.union(v1, {"generation": 4, "observedGeneration": 4}), v2])
	i := only(items(doc), "CG301")
	contains(i.message, "from model-v2 to model-v1")
}

test_cg301_rollback_to_previous_isvc_not_ready_is_denied if {
	doc := service_update("model-v2", "model-v1", rollback_stamps, [object.union(v1, {"conditions": {"Ready": "False"}}), v2])
	codes(items(doc)) == {"CG301"}
}

test_cg301_rollback_to_previous_isvc_with_stale_status_is_denied if {
	doc := service_update("model-v2", "model-v1", rollback_stamps, [object.union(v1, {"observedGeneration": 2}), v2])
	codes(items(doc)) == {"CG301"}
}

test_cg301_rollback_to_missing_previous_isvc_is_denied if {
	gone := object.union(v2_missing, {"name": "model-v1"})
	doc := service_update("model-v2", "model-v1", rollback_stamps, [gone, v2])
	codes(items(doc)) == {"CG301"}
}

test_cg301_rollback_only_towards_the_recorded_isvc if {
	v3 := object.union(v1, {"name": "model-v3"})
	doc := service_update("model-v2", "model-v3", rollback_stamps, [v3, v2])
	codes(items(doc)) == {"CG301"}
}

test_cg301_rollback_stamps_on_the_new_object_only_are_ignored if {
	# the stamps must be on the old object: a request cannot grant itself a rollback
	doc := object.union(service_update("model-v2", "model-v1", {}, [v1, v2]), {"object": svc_object("model-v1", rollback_stamps)})
	codes(items(doc)) == {"CG301"}
}

test_cg301_rollback_of_a_route_is_allowed if {
	doc := object.union(
		route_switch("model-ingress", route_switch_item("model-v2", "model-v1", "model-v1", "model-v2"), [v1, v2]),
		{"oldObject": {"metadata": {"annotations": rollback_stamps}}},
	)
	count(items(doc)) == 0
}

# ------------------------------------------------------------- CG302 weight

test_cg302_reference_weight_20_is_allowed_unverified if {
	count(items(exposure_doc(spec(20, 100), null, v2_unverified))) == 0
}

test_cg302_weight_at_the_limit_is_allowed if {
	count(items(exposure_doc(spec(50, 100), null, v2_unverified))) == 0
}

test_cg302_weight_60_is_denied_for_unverified if {
	i := only(items(exposure_doc(spec(60, 100), null, v2_unverified)), "CG302")
	i.field == "metadata.annotations"
	contains(i.message, "Ingress default/gray-release-canary")
	contains(i.message, "weight 60 of 100 sends 60% of traffic to model-v2")
	contains(i.message, "above max_unverified_weight 50%")
	contains(i.message, "it is not marked verified")
}

test_cg302_weight_51_is_denied_for_unverified if {
	codes(items(exposure_doc(spec(51, 100), null, v2_unverified))) == {"CG302"}
}

test_cg302_weight_60_is_allowed_for_verified if {
	count(items(exposure_doc(spec(60, 100), null, v2))) == 0
}

test_cg302_weight_60_is_denied_for_missing_target if {
	codes(items(exposure_doc(spec(60, 100), null, v2_missing))) == {"CG302"}
}

test_cg302_weight_total_1000_weight_400_is_40_percent if {
	count(items(exposure_doc(spec(400, 1000), null, v2_unverified))) == 0
}

test_cg302_weight_total_1000_weight_600_is_denied if {
	i := only(items(exposure_doc(spec(600, 1000), null, v2_unverified)), "CG302")
	contains(i.message, "weight 600 of 1000 sends 60% of traffic")
}

test_cg302_fractional_percent_above_the_limit_is_denied if {
	# 501 of 1000 is 50.1%, above 50%
	codes(items(exposure_doc(spec(501, 1000), null, v2_unverified))) == {"CG302"}
}

test_cg302_total_below_100_counts_as_100 if {
	# ingress-nginx ignores a total below 100: 40 of "50" is 40 of 100
	s := object.union(spec(40, 100), {"weightTotal": 50})
	count(items(exposure_doc(s, null, v2_unverified))) == 0
}

test_cg302_missing_effective_total_is_derived_from_the_total if {
	s := json.patch(spec(600, 1000), [{"op": "remove", "path": "/effectiveTotal"}])
	codes(items(exposure_doc(s, null, v2_unverified))) == {"CG302"}
	t := json.patch(spec(400, 1000), [{"op": "remove", "path": "/effectiveTotal"}])
	count(items(exposure_doc(t, null, v2_unverified))) == 0
}

test_cg302_zero_effective_total_still_denies if {
	s := object.union(spec(60, 100), {"effectiveTotal": 0})
	codes(items(exposure_doc(s, null, v2_unverified))) == {"CG302"}
}

test_cg302_threshold_comes_from_policy_data if {
	codes(items_with(exposure_doc(spec(20, 100), null, v2_unverified), {"max_unverified_weight": 10})) == {"CG302"}
	count(items_with(exposure_doc(spec(60, 100), null, v2_unverified), {"max_unverified_weight": 80})) == 0
}

test_cg302_isvc_declaration_is_judged_on_the_isvc_update if {
	doc := object.union(isvc_update(unverified_ann, object.union(unverified_ann, {"canarygate.io/weight": "60"}), {}, "alice", []), {
		"exposures": [{
			"subject": "InferenceService default/model-v2", "field": "metadata",
			"target": ref("model-v2"), "spec": spec(60, 100), "old": spec(0, 100),
		}],
		"targets": targets([v2_unverified]),
	})
	i := only(items(doc), "CG302")
	i.field == "metadata"
}

# ------------------------------------------------------------- CG303 header

test_cg303_user_agent_any_value_is_denied if {
	i := only(items(exposure_doc(header_spec("User-Agent", "", ".*"), null, v2_unverified)), "CG303")
	contains(i.message, `header rule User-Agent ~ ".*" routes every client to model-v2`)
}

test_cg303_header_name_compared_case_and_underscore_insensitively if {
	codes(items(exposure_doc(header_spec("user_agent", "", ".*"), null, v2_unverified))) == {"CG303"}
	codes(items(exposure_doc(header_spec("USER-AGENT", "", ".*"), null, v2_unverified))) == {"CG303"}
	codes(items(exposure_doc(header_spec("accept_encoding", "", ".*"), null, v2_unverified))) == {"CG303"}
}

test_cg303_other_match_all_patterns_are_denied if {
	codes(items(exposure_doc(header_spec("Host", "", "."), null, v2_unverified))) == {"CG303"}
	codes(items(exposure_doc(header_spec("Authorization", "", "^"), null, v2_unverified))) == {"CG303"}
	codes(items(exposure_doc(header_spec("Cookie", "", "a|"), null, v2_unverified))) == {"CG303"}
}

test_cg303_pattern_go_cannot_parse_is_denied if {
	codes(items(exposure_doc(header_spec("User-Agent", "", "(?<=x).*"), null, v2_unverified))) == {"CG303"}
}

test_cg303_exact_header_value_is_allowed if {
	count(items(exposure_doc(header_spec("User-Agent", "bar", ""), null, v2_unverified))) == 0
}

test_cg303_header_value_wins_over_pattern if {
	# ingress-nginx ignores the pattern when a value is set
	count(items(exposure_doc(header_spec("User-Agent", "bar", ".*"), null, v2_unverified))) == 0
}

test_cg303_header_clients_opt_into_is_allowed if {
	count(items(exposure_doc(header_spec("foo", "", ".*"), null, v2_unverified))) == 0
	count(items(exposure_doc(header_spec("X-Canary", "", ".*"), null, v2_unverified))) == 0
}

test_cg303_pattern_that_does_not_match_everything_is_allowed if {
	count(items(exposure_doc(header_spec("User-Agent", "", "^canary$"), null, v2_unverified))) == 0
	count(items(exposure_doc(header_spec("User-Agent", "", "^curl/"), null, v2_unverified))) == 0
}

test_cg303_header_without_value_or_pattern_is_allowed if {
	# only clients sending "always" reach the canary
	count(items(exposure_doc(header_spec("User-Agent", "", ""), null, v2_unverified))) == 0
}

test_cg303_verified_target_is_allowed if {
	count(items(exposure_doc(header_spec("User-Agent", "", ".*"), null, v2))) == 0
}

test_cg303_header_list_comes_from_policy_data if {
	doc := exposure_doc(header_spec("X-Tenant", "", ".*"), null, v2_unverified)
	codes(items_with(doc, {"every_request_headers": ["x_tenant"]})) == {"CG303"}
	count(items_with(doc, {"every_request_headers": ["User-Agent"]})) == 0
}

# ------------------------------------------------------------- CG304 step

test_cg304_step_above_max_weight_step_is_denied if {
	i := only(items_with(exposure_doc(spec(40, 100), spec(10, 100), v2), {"max_weight_step": 20}), "CG304")
	contains(i.message, "raising the canary from 10% to 40% of traffic is a step of 30 points, above max_weight_step 20")
}

test_cg304_step_at_max_weight_step_is_allowed if {
	count(items_with(exposure_doc(spec(30, 100), spec(10, 100), v2), {"max_weight_step": 20})) == 0
}

test_cg304_lowering_is_always_allowed if {
	count(items_with(exposure_doc(spec(10, 100), spec(40, 100), v2), {"max_weight_step": 20})) == 0
	count(items_with(exposure_doc(spec(0, 100), spec(100, 100), v2), {"max_weight_step": 1})) == 0
}

test_cg304_step_counts_percent_points_of_the_total if {
	# 100 → 300 of 1000 is 10% → 30%: 20 points
	count(items_with(exposure_doc(spec(300, 1000), spec(100, 1000), v2), {"max_weight_step": 20})) == 0
	codes(items_with(exposure_doc(spec(310, 1000), spec(100, 1000), v2), {"max_weight_step": 20})) == {"CG304"}
}

test_cg304_default_never_fires if {
	not "CG304" in codes(items(exposure_doc(spec(100, 100), spec(0, 100), v2)))
	not "CG304" in codes(items(exposure_doc(spec(1000, 1000), spec(0, 1000), v2_unverified)))
}

test_cg304_first_exposure_has_no_step if {
	count(items_with(exposure_doc(spec(40, 100), null, v2), {"max_weight_step": 20})) == 0
}

# ------------------------------------------------------------- CG305 verifier

verified_ann := {"canarygate.io/stable": "model-v1", "canarygate.io/verified": "true"}

unverified_ann := {"canarygate.io/stable": "model-v1"}

release_managers := {"verifier_groups": ["release-managers"]}

test_cg305_verification_outside_verifier_groups_is_denied if {
	doc := isvc_update(unverified_ann, verified_ann, {}, "alice", ["system:authenticated"])
	i := only(items_with(doc, release_managers), "CG305")
	i.field == `metadata.annotations["canarygate.io/verified"]`
	contains(i.message, "InferenceService default/model-v2: alice may not verify")
	contains(i.message, "release-managers")
}

test_cg305_verification_by_a_verifier_is_allowed if {
	doc := isvc_update(unverified_ann, verified_ann, {}, "bob", ["system:authenticated", "release-managers"])
	count(items_with(doc, release_managers)) == 0
}

test_cg305_verification_as_a_label_is_checked_too if {
	doc := isvc_update_labels(unverified_ann, unverified_ann, {}, {"canarygate.io/verified": "true"}, "alice", [])
	codes(items_with(doc, release_managers)) == {"CG305"}
}

test_cg305_annotation_wins_over_label if {
	ann := object.union(unverified_ann, {"canarygate.io/verified": "false"})
	doc := isvc_update_labels(ann, ann, {}, {"canarygate.io/verified": "true"}, "alice", [])
	count(items_with(doc, release_managers)) == 0
}

test_cg305_already_verified_is_not_a_new_verification if {
	doc := isvc_update(verified_ann, object.union(verified_ann, {"canarygate.io/weight": "30"}), {}, "alice", [])
	count(items_with(doc, release_managers)) == 0
}

test_cg305_verification_on_create_is_checked if {
	doc := object.union(isvc_update(unverified_ann, verified_ann, {}, "alice", []), {
		"request": {"operation": "CREATE"},
		"oldObject": null,
	})
	codes(items_with(doc, release_managers)) == {"CG305"}
}

test_cg305_empty_verifier_groups_let_anyone_verify if {
	doc := isvc_update(unverified_ann, verified_ann, {}, "alice", [])
	count(items(doc)) == 0
}

test_cg305_only_inference_services if {
	doc := object.union(base(request("UPDATE", service_kind, "model-svc")), {
		"object": svc_object("model-v1", {"canarygate.io/verified": "true"}),
		"oldObject": svc_object("model-v1", {}),
	})
	count(items_with(doc, release_managers)) == 0
}

# ------------------------------------------------------------- CG306 override

reason := {"canarygate.io/override-reason": "INC-4711: model-v1 is down"}

override_doc(old_ann, new_ann, groups) := object.union(
	as_user(switch_doc(v2_unverified), "root", groups),
	{"object": svc_object("model-v2", new_ann), "oldObject": svc_object("model-v1", old_ann)},
)

test_cg306_new_reason_by_override_group_is_reported if {
	its := items(override_doc({}, reason, ["system:masters", "system:authenticated"]))
	codes(its) == {"CG301", "CG306"}
	i := only(its, "CG306")
	i.field == `metadata.annotations["canarygate.io/override-reason"]`
	contains(i.message, `break-glass override by root: "INC-4711: model-v1 is down"`)
	gate.override with input as override_doc({}, reason, ["system:masters"])
}

test_cg306_changed_reason_is_honoured if {
	old := {"canarygate.io/override-reason": "INC-1: old incident"}
	"CG306" in codes(items(override_doc(old, reason, ["system:masters"])))
}

test_cg306_same_reason_as_before_is_not_honoured if {
	codes(items(override_doc(reason, reason, ["system:masters"]))) == {"CG301"}
	not gate.override with input as override_doc(reason, reason, ["system:masters"])
}

test_cg306_user_outside_override_groups_is_not_honoured if {
	codes(items(override_doc({}, reason, ["system:authenticated"]))) == {"CG301"}
	not gate.override with input as override_doc({}, reason, ["system:authenticated"])
}

test_cg306_empty_reason_is_not_an_override if {
	codes(items(override_doc({}, {"canarygate.io/override-reason": ""}, ["system:masters"]))) == {"CG301"}
}

test_cg306_override_groups_come_from_policy_data if {
	doc := override_doc({}, reason, ["sre"])
	codes(items_with(doc, {"override_groups": ["sre"]})) == {"CG301", "CG306"}
}

test_cg306_not_on_delete if {
	doc := object.union(override_doc({}, reason, ["system:masters"]), {
		"request": {"operation": "DELETE"},
		"object": null,
		"oldObject": svc_object("model-v1", reason),
		"switches": [],
	})
	count(items(doc)) == 0
}

# ------------------------------------------------------------- CG307 errors

test_cg307_lookup_errors_deny if {
	doc := object.union(switch_doc(v2), {"errors": ["reading InferenceService default/model-v2: context deadline exceeded"]})
	i := only(items(doc), "CG307")
	contains(i.message, "cannot decide safely because reading InferenceService default/model-v2: context deadline exceeded")
}

test_cg307_every_error_is_listed if {
	doc := object.union(switch_doc(v2), {"errors": ["error one", "error two"]})
	i := only(items(doc), "CG307")
	contains(i.message, "error one; error two")
}

test_cg307_no_errors_no_item if {
	not "CG307" in codes(items(switch_doc(v2_unverified)))
}

test_cg301_switch_without_from_is_not_a_first_deployment if {
	doc := object.union(switch_doc(v2_unverified), {"switches": [object.remove(service_switch_item("model-v1", "model-v2"), ["from"])]})
	codes(items(doc)) == {"CG301"}
}

test_cg301_names_the_namespace_of_a_target_elsewhere if {
	other := object.union(v2, {"namespace": "team-b", "name": "model-v1", "annotations": {}, "verified": false})
	doc := {
		"request": {"operation": "UPDATE", "kind": {"kind": "Ingress"}, "namespace": "default", "name": "model-ingress", "userInfo": {"username": "alice", "groups": []}},
		"object": {"metadata": {"name": "model-ingress", "annotations": {}}},
		"oldObject": {"metadata": {"name": "model-ingress", "annotations": {}}},
		"now_ns": 0,
		"namespace": {"name": "default", "labels": {}, "phase": "Active"},
		"switches": [{
			"subject": "route nginx model.example.com/ (Prefix)", "field": "spec.rules[0]",
			"from": {"namespace": "default", "name": "model-v1"},
			"to": {"namespace": "team-b", "name": "model-v1"},
			"main": {"namespace": "team-b", "name": "model-v1"},
			"mainBefore": {"namespace": "default", "name": "model-v1"},
		}],
		"exposures": [], "targets": targets([other]), "stamps": [], "errors": [],
	}
	some it in gate.items with input as doc
	it.code == "CG301"
	contains(it.message, "from model-v1 to team-b/model-v1")
}

test_cg301_an_unreadable_target_is_not_called_missing if {
	gone := object.union(v2_missing, {"unreadable": true})
	doc := service_update("model-v1", "model-v2", {}, [v1, gone])
	some it in gate.items with input as doc
	it.code == "CG301"
	contains(it.message, "could not be read")
	not contains(it.message, "does not exist")
}
