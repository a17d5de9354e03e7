package canarygate.builtin.rules.structure_test

import data.canarygate.builtin.rules.crossns
import data.canarygate.builtin.rules.structure

# all_items are the items of both Ingress-structure areas: the lint codes
# (structure) and CG601 (crossns, the gate's), so each test sees what a
# request gets from both endpoints.
all_items := structure.items | crossns.items

# ------------------------------------------------------------- fixtures
#
# Inputs shaped like pkg/validate Input: the reference scenario of DESIGN §1
# (namespace default, main model-ingress → model-svc, canary
# gray-release-canary → model-v2-svc, host model.example.com path "/").

canary_flag := {"nginx.ingress.kubernetes.io/canary": "true"}

key := {"class": "nginx", "host": "model.example.com", "path": "/", "pathType": "Prefix"}

api_key := {"class": "nginx", "host": "model.example.com", "path": "/api", "pathType": "Prefix"}

other_key := {"class": "nginx", "host": "other.example.com", "path": "/", "pathType": "Prefix"}

main_ref := {"namespace": "default", "name": "model-ingress", "canary": false, "service": "model-svc", "isvc": "model-v1"}

canary_ref := {"namespace": "default", "name": "gray-release-canary", "canary": true, "service": "model-v2-svc", "isvc": "model-v2"}

ingress_object(name, annotations, rules) := {
	"apiVersion": "networking.k8s.io/v1",
	"kind": "Ingress",
	"metadata": {"name": name, "namespace": "default", "annotations": annotations},
	"spec": {"rules": rules},
}

http_rule(host, svc) := {"host": host, "http": {"paths": [{
	"path": "/",
	"pathType": "ImplementationSpecific",
	"backend": {"service": {"name": svc, "port": {"number": 80}}},
}]}}

route(k, svc, over) := object.union(
	{
		"key": k, "field": "spec.rules[0].http.paths[0]", "service": svc, "isvc": "",
		"mains": [], "canaries": [], "serviceUsers": [], "mainServiceUsers": [],
	},
	over,
)

doc(op, name, obj, is_canary, routes) := {
	"version": "v1",
	"request": {
		"uid": "u1", "operation": op,
		"kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
		"namespace": "default", "name": name, "dryRun": false,
		"userInfo": {"username": "alice", "groups": []},
	},
	"object": obj,
	"oldObject": null,
	"namespace": {"name": "default", "labels": {}, "phase": "Active"},
	"ingress": {"class": "nginx", "governed": true, "canary": is_canary, "routes": routes},
	"switches": [], "exposures": [], "targets": {}, "stamps": [], "errors": [],
}

# canary_doc: a CREATE of gray-release-canary with the given routes.
canary_doc(routes) := doc(
	"CREATE", "gray-release-canary",
	ingress_object("gray-release-canary", canary_flag, [http_rule("model.example.com", "model-v2-svc")]),
	true, routes,
)

# main_doc: a CREATE of model-ingress with the given routes.
main_doc(routes) := doc(
	"CREATE", "model-ingress",
	ingress_object("model-ingress", {}, [http_rule("model.example.com", "model-svc")]),
	false, routes,
)

# The reference scenario, step 3a: the canary has its main route.
scenario_canary := canary_doc([route(key, "model-v2-svc", {"isvc": "model-v2", "mains": [main_ref]})])

# The main route with the canary of step 3a in place.
scenario_main := main_doc([route(key, "model-svc", {"isvc": "model-v1", "canaries": [canary_ref]})])

codes(items) := {i.code | some i in items}

# ------------------------------------------------------ reference scenario

test_reference_scenario_canary_has_no_items if {
	count(all_items) == 0 with input as scenario_canary
}

test_reference_scenario_main_has_no_items if {
	count(all_items) == 0 with input as scenario_main
}

test_reference_scenario_update_of_canary_has_no_items if {
	count(all_items) == 0 with input as object.union(scenario_canary, {
		"request": object.union(scenario_canary.request, {"operation": "UPDATE"}),
		"oldObject": scenario_canary.object,
	})
}

test_ungoverned_ingress_is_ignored if {
	inp := object.union(canary_doc([route(key, "model-v2-svc", {})]), {"ingress": {"governed": false, "canary": true, "routes": []}})
	count(all_items) == 0 with input as inp
}

test_deletion_is_ignored if {
	inp := object.union(canary_doc([route(key, "model-v2-svc", {})]), {
		"request": object.union(scenario_canary.request, {"operation": "DELETE"}),
		"object": null,
		"oldObject": scenario_canary.object,
	})
	count(all_items) == 0 with input as inp
}

# ---------------------------------------------------------------- CG201

no_http_doc := scenario_canary

test_cg201_canary_rule_with_host_without_http if {
	obj := ingress_object("gray-release-canary", canary_flag, [
		http_rule("model.example.com", "model-v2-svc"),
		{"host": "other.example.com"},
	])
	inp := object.union(no_http_doc, {"object": obj})
	items := all_items with input as inp
	codes(items) == {"CG201"}
	some i in items
	i.field == "spec.rules[1]"
	contains(i.message, "Ingress default/gray-release-canary: ")
	contains(i.message, "other.example.com")
}

test_cg201_not_for_a_main_route if {
	obj := ingress_object("model-ingress", {}, [{"host": "other.example.com"}])
	inp := object.union(main_doc([]), {"object": obj})
	codes(all_items) == set() with input as inp
}

test_cg201_not_for_a_rule_without_host if {
	obj := ingress_object("gray-release-canary", canary_flag, [http_rule("model.example.com", "model-v2-svc"), {}])
	inp := object.union(no_http_doc, {"object": obj})
	codes(all_items) == set() with input as inp
}

test_cg201_not_for_an_empty_http_block if {
	obj := ingress_object("gray-release-canary", canary_flag, [http_rule("model.example.com", "model-v2-svc"), {"host": "other.example.com", "http": {"paths": []}}])
	inp := object.union(no_http_doc, {"object": obj})
	codes(all_items) == set() with input as inp
}

# ---------------------------------------------------------------- CG202

test_cg202_second_main_route if {
	other := {"namespace": "team-b", "name": "model-ingress-copy", "canary": false, "service": "copy-svc"}
	items := all_items with input as main_doc([route(key, "model-svc", {"mains": [other]})])
	codes(items) == {"CG202"}
	some i in items
	i.field == "spec.rules[0].http.paths[0]"
	contains(i.message, "Ingress team-b/model-ingress-copy")
	contains(i.message, "nginx model.example.com/ (Prefix)")
}

test_cg202_not_for_a_canary if {
	# A canary with a main route is the intended shape.
	codes(all_items) == set() with input as scenario_canary
}

test_cg202_not_without_other_main if {
	codes(all_items) == set() with input as main_doc([route(key, "model-svc", {})])
}

# ---------------------------------------------------------------- CG203

test_cg203_second_canary if {
	older := {"namespace": "default", "name": "older-canary", "canary": true, "service": "model-v3-svc"}
	items := all_items with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "canaries": [older]})])
	codes(items) == {"CG203"}
	some i in items
	contains(i.message, "Ingress default/older-canary")
}

test_cg203_not_for_a_main_route_with_canaries if {
	codes(all_items) == set() with input as main_doc([route(key, "model-svc", {"canaries": [canary_ref, object.union(canary_ref, {"name": "c2"})]})])
}

# ---------------------------------------------------------------- CG204

test_cg204_canary_without_main_route if {
	items := all_items with input as canary_doc([route(key, "model-v2-svc", {})])
	codes(items) == {"CG204"}
	some i in items
	contains(i.message, "404")
}

test_cg204_one_item_per_route_and_dead_elsewhere if {
	routes := [
		route(key, "model-v2-svc", {"mains": [main_ref]}),
		route(api_key, "model-v2-svc", {"field": "spec.rules[0].http.paths[1]"}),
	]
	items := all_items with input as canary_doc(routes)
	fields := {i.field | some i in items; i.code == "CG204"}
	fields == {"spec.rules[0].http.paths[1]"}
	some i in items
	contains(i.message, "dead on nginx model.example.com/ (Prefix) too")
}

test_cg204_two_routes_without_main if {
	routes := [
		route(key, "model-v2-svc", {}),
		route(api_key, "model-v2-svc", {"field": "spec.rules[0].http.paths[1]"}),
	]
	items := all_items with input as canary_doc(routes)
	count({i | some i in items; i.code == "CG204"}) == 2
}

test_cg204_not_when_main_exists if {
	codes(all_items) == set() with input as scenario_canary
}

test_cg204_not_for_a_main_route if {
	codes(all_items) == set() with input as main_doc([route(key, "model-svc", {})])
}

# ---------------------------------------------------------------- CG205

test_cg205_canary_service_is_main_service if {
	items := all_items with input as canary_doc([route(key, "model-svc", {"mains": [main_ref]})])
	codes(items) == {"CG205"}
	some i in items
	contains(i.message, "\"model-svc\"")
	contains(i.message, "Ingress default/model-ingress")
}

test_cg205_not_for_distinct_services if {
	codes(all_items) == set() with input as scenario_canary
}

test_cg205_not_for_same_name_in_another_namespace if {
	# Services are namespaced: team-b/model-svc is another Service (CG601
	# is what applies here).
	other := object.union(main_ref, {"namespace": "team-b"})
	codes(all_items) == {"CG601"} with input as canary_doc([route(key, "model-svc", {"mains": [other]})])
}

# ---------------------------------------------------------------- CG206

test_cg206_canary_service_used_by_main_route if {
	user := {"namespace": "default", "name": "v2-direct", "canary": false, "service": "model-v2-svc", "key": other_key}
	items := all_items with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "serviceUsers": [user]})])
	codes(items) == {"CG206"}
	some i in items
	contains(i.message, "Ingress default/v2-direct (route nginx other.example.com/ (Prefix))")
}

test_cg206_main_route_service_is_a_canary_service if {
	user := {"namespace": "default", "name": "other-canary", "canary": true, "service": "model-svc", "key": other_key}
	items := all_items with input as main_doc([route(key, "model-svc", {"serviceUsers": [user]})])
	codes(items) == {"CG206"}
	some i in items
	contains(i.message, "Ingress default/other-canary")
}

test_cg206_not_for_canary_users_of_a_canary_service if {
	user := {"namespace": "default", "name": "other-canary", "canary": true, "service": "model-v2-svc", "key": other_key}
	codes(all_items) == set() with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "serviceUsers": [user]})])
}

test_cg206_not_for_main_users_of_a_main_service if {
	user := {"namespace": "default", "name": "other-main", "canary": false, "service": "model-svc", "key": other_key}
	codes(all_items) == set() with input as main_doc([route(key, "model-svc", {"serviceUsers": [user]})])
}

test_cg206_not_for_another_ingress_class if {
	user := {"namespace": "default", "name": "v2-direct", "canary": false, "service": "model-v2-svc", "key": object.union(other_key, {"class": "traefik"})}
	codes(all_items) == set() with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "serviceUsers": [user]})])
}

# ---------------------------------------------------------------- CG207

test_cg207_main_service_shared_with_other_routes if {
	users := [
		{"namespace": "default", "name": "model-ingress", "canary": false, "service": "model-svc", "key": api_key},
		{"namespace": "default", "name": "legacy", "canary": false, "service": "model-svc", "key": other_key},
		{"namespace": "default", "name": "gray-release-canary", "canary": true, "service": "model-svc", "key": api_key},
	]
	items := all_items with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "mainServiceUsers": users})])
	codes(items) == {"CG207"}
	some i in items
	contains(i.message, "\"model-svc\"")
	contains(i.message, "Ingress default/legacy (route nginx other.example.com/ (Prefix))")
	contains(i.message, "Ingress default/model-ingress (route nginx model.example.com/api (Prefix))")
	not contains(i.message, "gray-release-canary (route")
}

test_cg207_not_when_only_canaries_share_it if {
	users := [{"namespace": "default", "name": "c2", "canary": true, "service": "model-svc", "key": other_key}]
	codes(all_items) == set() with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref], "mainServiceUsers": users})])
}

test_cg207_not_for_a_main_route if {
	users := [{"namespace": "default", "name": "legacy", "canary": false, "service": "model-svc", "key": other_key}]
	codes(all_items) == set() with input as main_doc([route(key, "model-svc", {"mainServiceUsers": users})])
}

# ---------------------------------------------------------------- CG601

cross_ns_main := object.union(main_ref, {"namespace": "team-b"})

test_cg601_main_route_in_another_namespace if {
	items := all_items with input as canary_doc([route(key, "model-v2-svc", {"mains": [cross_ns_main]})])
	codes(items) == {"CG601"}
	some i in items
	contains(i.message, "Ingress team-b/model-ingress")
	contains(i.message, "allow_cross_namespace_canary")
}

test_cg601_allowed_by_settings if {
	codes(all_items) == set() with input as canary_doc([route(key, "model-v2-svc", {"mains": [cross_ns_main]})])
		with data.canarygate.config as {"settings": {"allow_cross_namespace_canary": true}}
}

test_cg601_allowed_by_the_canary_namespace_profile if {
	inp := object.union(canary_doc([route(key, "model-v2-svc", {"mains": [cross_ns_main]})]), {"namespace": {"name": "default", "labels": {"canarygate.io/profile": "shared"}, "phase": "Active"}})
	codes(all_items) == set() with input as inp
		with data.canarygate.config as {"profiles": {"shared": {"settings": {"allow_cross_namespace_canary": true}}}}
}

test_cg601_not_for_same_namespace if {
	codes(all_items) == set() with input as scenario_canary
}

test_cg601_not_when_one_main_is_in_the_canary_namespace if {
	# Two mains (one here, one elsewhere): not a cross-namespace canary.
	codes(all_items) == set() with input as canary_doc([route(key, "model-v2-svc", {"mains": [main_ref, cross_ns_main]})])
}

test_cg601_not_without_main_route if {
	codes(all_items) == {"CG204"} with input as canary_doc([route(key, "model-v2-svc", {})])
}
