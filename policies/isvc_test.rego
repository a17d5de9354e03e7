package canarygate.builtin.rules.isvc_test

import data.canarygate.builtin.rules.isvc

# object is the reference scenario's canary InferenceService model-v2
# (DESIGN §1) with the given labels and annotations.
inference_service(labels, annotations) := {
	"apiVersion": "serving.kserve.io/v1beta1",
	"kind": "InferenceService",
	"metadata": {
		"name": "model-v2",
		"namespace": "default",
		"generation": 1,
		"labels": labels,
		"annotations": annotations,
	},
	"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/canary/v2"}}},
}

request(operation) := {
	"operation": operation,
	"kind": {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
	"namespace": "default",
	"name": "model-v2",
	"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
}

create(labels, annotations) := {
	"request": request("CREATE"),
	"object": inference_service(labels, annotations),
	"oldObject": null,
}

update(old_labels, labels, annotations) := {
	"request": request("UPDATE"),
	"object": inference_service(labels, annotations),
	"oldObject": inference_service(old_labels, annotations),
}

items_of(x) := result if {
	result := isvc.items with input as x
}

codes_of(x) := {i.code | some i in items_of(x)}

# codes of a CREATE with these labels and annotations.
codes(labels, annotations) := codes_of(create(labels, annotations))

# the single item of code for a CREATE, for message and field assertions.
item(labels, annotations, code) := i if {
	found := [i | some i in items_of(create(labels, annotations)); i.code == code]
	count(found) == 1
	i := found[0]
}

stable := "canarygate.io/stable"

weight := "canarygate.io/weight"

total := "canarygate.io/weight-total"

header := "canarygate.io/header"

header_value := "canarygate.io/header-value"

header_pattern := "canarygate.io/header-pattern"

cookie := "canarygate.io/cookie"

verified := "canarygate.io/verified"

# ------------------------------------------------------------ scenario

test_reference_canary_declared_with_labels_is_clean if {
	count(items_of(create({stable: "model-v1", weight: "20"}, {}))) == 0
	count(items_of(create({stable: "model-v1", header: "foo", header_value: "bar"}, {}))) == 0
}

test_reference_weight_and_verification_by_annotation_is_clean if {
	x := update(
		{stable: "model-v1"},
		{stable: "model-v1"},
		{weight: "20", verified: "true", "canarygate.io/verified-by": "alice"},
	)
	count(items_of(x)) == 0
}

test_plain_inferenceservice_is_clean if {
	count(items_of(create({"team": "ml"}, {"serving.kserve.io/deploymentMode": "Standard"}))) == 0
	count(items_of(create(null, null))) == 0
}

test_delete_is_ignored if {
	x := {
		"request": request("DELETE"),
		"object": null,
		"oldObject": inference_service({weight: "50%"}, {"nginx.ingress.kubernetes.io/canary": "true"}),
	}
	count(items_of(x)) == 0
}

test_other_kinds_are_ignored if {
	x := create({weight: "50%"}, {})
	svc := object.union(x, {"request": object.union(x.request, {"kind": {"group": "", "version": "v1", "kind": "Service"}})})
	count(items_of(svc)) == 0
}

# ---------------------------------------------------------------- CG251

test_cg251_denies_percent_weight if {
	i := item({stable: "model-v1"}, {weight: "20%"}, "CG251")
	i.field == `metadata.annotations["canarygate.io/weight"]`
	startswith(i.message, `InferenceService default/model-v2: canarygate.io/weight "20%" is not a plain non-negative integer`)
}

test_cg251_denies_weight_above_total if {
	contains(item({stable: "model-v1", weight: "150"}, {}, "CG251").message, "greater than the total 100")
	"CG251" in codes({stable: "model-v1", weight: "250"}, {total: "200"})
}

test_cg251_accepts_weight_within_total if {
	not "CG251" in codes({stable: "model-v1"}, {weight: "150", total: "200"})
	not "CG251" in codes({stable: "model-v1"}, {weight: "0"})
}

test_cg251_denies_total_below_100_or_not_an_integer if {
	"CG251" in codes({stable: "model-v1"}, {total: "50"})
	"CG251" in codes({stable: "model-v1"}, {total: "1e3"})
}

test_cg251_checks_weight_against_100_when_total_is_invalid if {
	found := {i.message | some i in items_of(create({stable: "model-v1"}, {weight: "150", total: "50"})); i.code == "CG251"}
	count(found) == 2
}

test_cg251_denies_header_cookie_outside_basic_charset if {
	"CG251" in codes({stable: "model-v1"}, {header: "X Canary"})
	"CG251" in codes({stable: "model-v1"}, {header: "foo", header_value: "a=b"})
	i := item({stable: "model-v1"}, {cookie: "a;b"}, "CG251")
	i.field == `metadata.annotations["canarygate.io/cookie"]`
	contains(i.message, `contains ";"`)
}

test_cg251_accepts_basic_header_value_cookie if {
	not "CG251" in codes({stable: "model-v1", header: "X-Canary", header_value: "v2", cookie: "canary"}, {})
	not "CG251" in codes({stable: "model-v1"}, {header: "", cookie: ""})
}

test_cg251_denies_pattern_label if {
	i := item({stable: "model-v1", header: "foo", header_pattern: "v2"}, {}, "CG251")
	i.field == `metadata.labels["canarygate.io/header-pattern"]`
	contains(i.message, "must be an annotation, not a label")
}

test_cg251_denies_pattern_outside_charset_or_not_re2 if {
	"CG251" in codes({stable: "model-v1", header: "foo"}, {header_pattern: "a b"})
	"CG251" in codes({stable: "model-v1", header: "foo"}, {header_pattern: "(?=v2)v"})
	"CG251" in codes({stable: "model-v1", header: "foo"}, {header_pattern: "(v2"})
}

test_cg251_accepts_re2_pattern_annotation if {
	not "CG251" in codes({stable: "model-v1", header: "foo"}, {header_pattern: "^v[23]$"})
}

test_cg251_denies_verified_other_than_true_false if {
	i := item({stable: "model-v1"}, {verified: "yes"}, "CG251")
	contains(i.message, `must be "true" or "false"`)
	"CG251" in codes({stable: "model-v1"}, {verified: "True"})
}

test_cg251_accepts_verified_true_false if {
	not "CG251" in codes({stable: "model-v1"}, {verified: "true"})
	not "CG251" in codes({stable: "model-v1"}, {verified: "false"})
}

test_cg251_denies_bad_stable if {
	contains(item({stable: ""}, {}, "CG251").message, "is empty")
	contains(item({stable: "model-v2"}, {}, "CG251").message, "names this InferenceService itself")
	contains(item({}, {stable: "Model_V1"}, "CG251").message, "is not a valid InferenceService name")
	"CG251" in codes({}, {stable: "-model"})
	"CG251" in codes({}, {stable: concat("", [x | some _ in numbers.range(1, 64); x := "a"])})
}

test_cg251_accepts_stable_name if {
	not "CG251" in codes({stable: "model-v1"}, {})
	not "CG251" in codes({}, {stable: "1st-model"})
}

test_cg251_judges_the_winning_annotation if {
	not "CG251" in codes({stable: "model-v1", weight: "20"}, {weight: "30"})
	i := item({stable: "model-v1", weight: "20"}, {weight: "30%"}, "CG251")
	i.field == `metadata.annotations["canarygate.io/weight"]`
}

# ---------------------------------------------------------------- CG252

test_cg252_warns_key_in_label_and_annotation if {
	i := item({stable: "model-v1", weight: "10"}, {weight: "20"}, "CG252")
	i.field == `metadata.labels["canarygate.io/weight"]`
	contains(i.message, `both as a label ("10") and as an annotation ("20"); the annotation "20" wins`)
}

test_cg252_warns_even_when_values_agree if {
	"CG252" in codes({stable: "model-v1"}, {stable: "model-v1"})
}

test_cg252_accepts_one_place_per_key if {
	not "CG252" in codes({stable: "model-v1"}, {weight: "20"})
}

# ---------------------------------------------------------------- CG253

test_cg253_warns_label_change if {
	x := update({stable: "model-v1", weight: "10"}, {stable: "model-v1", weight: "20"}, {})
	found := [i | some i in items_of(x); i.code == "CG253"]
	count(found) == 1
	found[0].field == `metadata.labels["canarygate.io/weight"]`
	contains(found[0].message, `canarygate.io/weight "10" → "20"`)
	contains(found[0].message, "restarts the model's pods")
	contains(found[0].message, "serviceAnnotationDisallowedList")
}

test_cg253_warns_label_added_and_removed if {
	x := update({stable: "model-v1", "canarygate.io/verified": "false"}, {stable: "model-v1", weight: "20"}, {})
	found := [i | some i in items_of(x); i.code == "CG253"]
	count(found) == 1
	contains(found[0].message, `canarygate.io/verified removed (was "false")`)
	contains(found[0].message, `canarygate.io/weight added ("20")`)
}

test_cg253_ignores_annotation_changes if {
	x := {
		"request": request("UPDATE"),
		"object": inference_service({stable: "model-v1"}, {weight: "30"}),
		"oldObject": inference_service({stable: "model-v1"}, {weight: "20"}),
	}
	not "CG253" in codes_of(x)
}

test_cg253_ignores_create_and_other_labels if {
	not "CG253" in codes({stable: "model-v1", weight: "20"}, {})
	not "CG253" in codes_of(update({stable: "model-v1", "team": "a"}, {stable: "model-v1", "team": "b"}, {}))
}

# ---------------------------------------------------------------- CG254

test_cg254_denies_unknown_key_and_suggests if {
	i := item({stable: "model-v1"}, {"canarygate.io/wieght": "20"}, "CG254")
	i.field == `metadata.annotations["canarygate.io/wieght"]`
	endswith(i.message, `did you mean "canarygate.io/weight"?`)
	endswith(item({"canarygate.io/stabel": "model-v1"}, {}, "CG254").message, `did you mean "canarygate.io/stable"?`)
	endswith(item({stable: "model-v1"}, {"canarygate.io/verfied": "true"}, "CG254").message, `did you mean "canarygate.io/verified"?`)
	endswith(item({stable: "model-v1"}, {"canarygate.io/headers": "x"}, "CG254").message, `did you mean "canarygate.io/header"?`)
}

test_cg254_accepts_every_known_key if {
	annotations := {
		weight: "20", total: "100", header: "foo", header_value: "bar",
		header_pattern: "^b", cookie: "c", verified: "true",
		"canarygate.io/verified-by": "alice",
		"canarygate.io/verified-at": "2026-01-01T00:00:00Z",
		"canarygate.io/verified-generation": "1",
		"canarygate.io/canary-since": "2026-01-01T00:00:00Z",
		"canarygate.io/source": "model-v2",
		"canarygate.io/previous-isvc": "model-v1",
		"canarygate.io/previous-generation": "3",
		"canarygate.io/inject": "false",
		"canarygate.io/override-reason": "incident 42",
	}
	not "CG254" in codes({stable: "model-v1"}, annotations)
}

# ---------------------------------------------------------------- CG255

test_cg255_warns_canary_keys_without_stable if {
	i := item({weight: "20"}, {header: "foo"}, "CG255")
	i.field == `metadata.labels["canarygate.io/weight"]`
	contains(i.message, "canarygate.io/weight, canarygate.io/header set without canarygate.io/stable")
}

test_cg255_accepts_with_stable_or_verified_only if {
	not "CG255" in codes({stable: "model-v1", weight: "20"}, {})
	not "CG255" in codes({}, {stable: "model-v1", weight: "20"})
	not "CG255" in codes({}, {verified: "true"})
}

# ---------------------------------------------------------------- CG256

test_cg256_denies_nginx_canary_annotation if {
	i := item({stable: "model-v1"}, {"nginx.ingress.kubernetes.io/canary-weight": "20"}, "CG256")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]`
	contains(i.message, "turn KServe's own main Ingress into a canary")
	contains(i.message, "canarygate.io/weight instead")
	contains(item({}, {"nginx.ingress.kubernetes.io/canary": "true"}, "CG256").message, "canarygate.io/stable")
}

test_cg256_maps_a_misspelt_key_to_the_closest_canarygate_key if {
	contains(item({}, {"nginx.ingress.kubernetes.io/canary-weigth": "20"}, "CG256").message, "canarygate.io/weight instead")
	contains(item({}, {"nginx.ingress.kubernetes.io/canary-by-cookies": "c"}, "CG256").message, "canarygate.io/cookie instead")
}

test_cg256_denies_nginx_canary_label if {
	i := item({"nginx.ingress.kubernetes.io/canary-by-header": "foo"}, {}, "CG256")
	i.field == `metadata.labels["nginx.ingress.kubernetes.io/canary-by-header"]`
	contains(i.message, "canarygate.io/header instead")
}

test_cg256_accepts_other_nginx_annotations if {
	not "CG256" in codes({}, {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"})
}
