# Tests of the example.com platform rules, run on canarygate's engine with
# the built-in policies and this bundle's data loaded:
#
#   canarygate policy test examples/platform-bundle
#
# The package lives under the bundle's root canarygate/ext/platform.
package canarygate.ext.platform.tests

import data.canarygate.builtin.main
import data.canarygate.ext.platform

now_ns := 1795687200000000000 # 2026-11-26T10:00:00Z

# ------------------------------------------------------------- fixtures

# exposes says whether a strategy routes anyone to the canary.
exposes(w, h) := true if {
	w > 0
} else := true if {
	h != ""
} else := false

spec(weight, header) := {
	"weight": weight,
	"weightTotal": 100,
	"effectiveTotal": 100,
	"header": header,
	"headerValue": "",
	"headerPattern": "",
	"cookie": "",
	"exposes": exposes(weight, header),
	"full": weight >= 100,
}

namespace(profile) := {"name": "team-a", "labels": {}, "phase": "Active"} if profile == ""

else := {"name": "team-a", "labels": {"canarygate.io/profile": profile}, "phase": "Active"}

# target is model-v2 as the gate reads it: Ready at generation 2, verified
# (or not) at that generation, exposed by a canary since canary_since.
target(verified, canary_since) := {
	"namespace": "team-a", "name": "model-v2", "exists": true,
	"generation": 2, "observedGeneration": 2,
	"conditions": {"Ready": "True"},
	"annotations": {"canarygate.io/verified": "true", "canarygate.io/verified-generation": "2"},
	"labels": {},
	"verified": verified,
	"canarySince": canary_since,
}

# ingress is an UPDATE (CREATE when old is null) of the canary Ingress of
# model-v2 in namespace team-a with the given profile.
ingress(profile, old, new, tgt) := {
	"version": "v1",
	"request": {
		"uid": "test", "operation": operation(old), "dryRun": false,
		"kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
		"namespace": "team-a", "name": "gray-release-canary",
		"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
	},
	"object": {"metadata": {"name": "gray-release-canary", "namespace": "team-a", "annotations": {}}},
	"oldObject": {"metadata": {"name": "gray-release-canary", "namespace": "team-a", "annotations": {}}},
	"now": "2026-11-26T10:00:00Z", "now_ns": now_ns,
	"namespace": namespace(profile),
	"ingress": {"class": "nginx", "governed": true, "canary": true, "spec": new, "routes": []},
	"switches": [],
	"exposures": [{
		"subject": "Ingress team-a/gray-release-canary", "field": "metadata.annotations",
		"target": {"namespace": "team-a", "name": "model-v2"},
		"spec": new, "old": old,
	}],
	"targets": {"team-a/model-v2": tgt},
	"stamps": [], "errors": [],
}

operation(null) := "CREATE"

operation(old) := "UPDATE" if old != null

# isvc is an UPDATE of InferenceService model-v2 by a user in groups.
isvc(annotations, labels, groups) := {
	"version": "v1",
	"request": {
		"uid": "test", "operation": "UPDATE", "dryRun": false,
		"kind": {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
		"namespace": "team-a", "name": "model-v2",
		"userInfo": {"username": "alice", "groups": groups},
	},
	"object": {"metadata": {"name": "model-v2", "namespace": "team-a", "generation": 2, "annotations": annotations, "labels": labels}},
	"oldObject": {"metadata": {"name": "model-v2", "namespace": "team-a", "generation": 2, "annotations": {}, "labels": labels}},
	"now": "2026-11-26T10:00:00Z", "now_ns": now_ns,
	"namespace": namespace(""),
	"switches": [], "exposures": [], "targets": {}, "stamps": [], "errors": [],
}

codes(inp) := c if {
	c := {i.code | some i in platform.items} with input as inp
}

decided(inp) := d if {
	d := {[i.code, i.enforcement] | some i in main.decision} with input as inp
}

unverified := target(false, "")

# ------------------------------------------------------- CGX01, CGX02

test_each_step_of_the_ladder_is_allowed if {
	count(codes(ingress("", null, spec(5, ""), unverified))) == 0
	count(codes(ingress("", spec(5, ""), spec(20, ""), unverified))) == 0
	count(codes(ingress("", spec(20, ""), spec(50, ""), unverified))) == 0
	count(codes(ingress("", spec(50, ""), spec(100, ""), target(true, "")))) == 0
}

test_a_weight_off_the_ladder_is_reported if {
	codes(ingress("", spec(5, ""), spec(10, ""), unverified)) == {"CGX01"}
}

test_skipping_a_step_is_reported if {
	codes(ingress("", spec(5, ""), spec(50, ""), unverified)) == {"CGX02"}
	codes(ingress("", null, spec(20, ""), unverified)) == {"CGX02"}
}

test_lowering_the_weight_is_always_allowed if {
	count(codes(ingress("", spec(50, ""), spec(5, ""), unverified))) == 0
	count(codes(ingress("", spec(50, ""), spec(0, ""), unverified))) == 0
}

test_steps_are_percent_of_the_weight_total if {
	s := object.union(spec(50, ""), {"weightTotal": 1000, "effectiveTotal": 1000})
	count(codes(ingress("", null, s, unverified))) == 0
}

test_the_ladder_is_data if {
	codes(ingress("", spec(5, ""), spec(10, ""), unverified)) == set() with data.canarygate.config.settings.platform_weight_steps as [5, 10, 20, 50, 100]
}

test_an_inferenceservice_weight_is_judged_when_annotated if {
	inp := object.union(isvc({"canarygate.io/weight": "30"}, {"canarygate.io/stable": "model-v1", "example.com/team": "ml"}, []), {"exposures": [{
		"subject": "InferenceService team-a/model-v2", "field": "metadata",
		"target": {"namespace": "team-a", "name": "model-v2"},
		"spec": spec(30, ""), "old": spec(20, ""),
	}]})
	some i in platform.items with input as inp
	i.code == "CGX01"
	i.field == `metadata.annotations["canarygate.io/weight"]`
}

# 100 % needs a verified InferenceService: the built-in gate denies it
# (CG302) because the bundle keeps max_unverified_weight at 50.
test_full_weight_needs_verification if {
	["CG302", "deny"] in decided(ingress("", spec(50, ""), spec(100, ""), unverified))
	not ["CG302", "deny"] in decided(ingress("", spec(50, ""), spec(100, ""), target(true, "")))
}

# ------------------------------------------------------------- CGX03

test_prod_canaries_must_route_x_canary if {
	codes(ingress("prod", null, spec(5, ""), unverified)) == {"CGX03"}
	count(codes(ingress("prod", null, spec(5, "x-canary"), unverified))) == 0
	count(codes(ingress("prod", null, spec(5, "X_Canary"), unverified))) == 0
	codes(ingress("prod", null, spec(5, "x-debug"), unverified)) == {"CGX03"}
}

test_a_canary_that_exposes_nothing_needs_no_header if {
	count(codes(ingress("prod", spec(5, "x-canary"), spec(0, ""), unverified))) == 0
}

test_other_namespaces_need_no_header if {
	count(codes(ingress("", null, spec(5, ""), unverified))) == 0
}

test_staging_only_warns_about_the_header if {
	["CGX03", "warn"] in decided(ingress("staging", null, spec(5, ""), unverified))
	["CGX03", "deny"] in decided(ingress("prod", null, spec(5, ""), unverified))
}

# ------------------------------------------- built-in settings in data

# verifier_groups: only release-managers may set canarygate.io/verified.
test_only_release_managers_verify if {
	verify := {"canarygate.io/verified": "true"}
	labels := {"example.com/team": "ml"}
	["CG305", "deny"] in decided(isvc(verify, labels, ["system:authenticated"]))
	not ["CG305", "deny"] in decided(isvc(verify, labels, ["system:authenticated", "release-managers"]))
}

# min_soak_seconds: 600 in prod: a canary exposed 5 minutes ago is not
# soaked, one exposed 11 minutes ago is.
test_prod_soaks_ten_minutes if {
	young := target(true, "2026-11-26T09:55:00Z")
	old := target(true, "2026-11-26T09:49:00Z")
	["CG302", "deny"] in decided(ingress("prod", spec(50, "x-canary"), spec(100, "x-canary"), young))
	not ["CG302", "deny"] in decided(ingress("prod", spec(50, "x-canary"), spec(100, "x-canary"), old))
	not ["CG302", "deny"] in decided(ingress("", spec(50, ""), spec(100, ""), young))
}

# ------------------------------------------------------------- CGX04

test_missing_owner_label_is_a_dryrun_lint_item if {
	inp := isvc({}, {"canarygate.io/stable": "model-v1"}, [])
	codes(inp) == {"CGX04"}
	some i in main.decision with input as inp
	i.code == "CGX04"
	i.endpoint == "lint"
	i.enforcement == "dryrun"
	i.origin == "ext/platform"
}

test_owner_label_present if {
	count(codes(isvc({}, {"canarygate.io/stable": "model-v1", "example.com/team": "ml"}, []))) == 0
}

test_owner_label_only_asked_of_canaries if {
	count(codes(isvc({}, {}, []))) == 0
}
