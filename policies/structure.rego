# Structure rules for one governed Ingress write: how the object's route keys
# relate to the other Ingresses of the same keys and Services (codes
# CG201–CG207, on the lint endpoint; CG601, the gate's, is in crossns.rego so
# that each endpoint evaluates only its own rules, over the helpers here).
#
# Every rule names the fact it enforces: "ref:" quotes the section
# "Structure" of shared/reference/ingress-nginx-canary.md (ingress-nginx v1.15
# source), "design:" quotes DESIGN.md. The facts come from the input document
# (pkg/validate IngressFacts, read after the request): for each route key of
# the object, `mains` and `canaries` are the OTHER Ingresses with that key,
# `serviceUsers` the other Ingresses routing to this path's Service on another
# key, and `mainServiceUsers` (canary objects only) the routes other than this
# key that use the main route's Service.
package canarygate.builtin.rules.structure

import data.canarygate.builtin.lib

# design §3: "Ingresses of classes not governed are ignored"; §4: lint and the
# cross-namespace check (crossns.rego) judge writes (a deletion adds no route).
applies if {
	lib.writing
	lib.kind == "Ingress"
	object.get(input, ["ingress", "governed"], false) == true
}

# canary: ingress-nginx treats the object as a canary (pkg/canary FromNginx).
canary if {
	applies
	input.ingress.canary == true
}

main_route if {
	applies
	not canary
}

# routes are the object's route keys; absent or null lists read as empty so a
# hand-written input cannot make a rule error.
routes := list(input.ingress, "routes") if applies

list(o, k) := v if {
	v := o[k]
	is_array(v)
} else := []

# route names a route key as Go's facts.RouteKey.String does, so lint and
# gate messages name a route alike: "nginx model.example.com/ (Prefix)"; host
# "" (no host, or the default backend) is "*".
route(key) := sprintf("%s %s%s (%s)", [key.class, host, key.path, key.pathType]) if {
	host := object.get(key, "host", "")
	host != ""
} else := sprintf("%s *%s (%s)", [key.class, key.path, key.pathType])

# ingress names another Ingress: "Ingress ns/name".
ingress(ref) := sprintf("Ingress %s/%s", [ref.namespace, ref.name])

# ingress_on names another Ingress with the route it has: "Ingress ns/name
# (route …)".
ingress_on(ref) := sprintf("%s (route %s)", [ingress(ref), route(ref.key)]) if {
	is_object(object.get(ref, "key", null))
} else := ingress(ref)

names(refs) := concat(", ", sort({ingress(r) | some r in refs}))

names_on(refs) := concat(", ", sort({ingress_on(r) | some r in refs}))

# same_class: design §3 "Route key: (ingress class, host, path string,
# pathType)" — each class is served by its own controller, so an Ingress of
# another class shares no upstream with this one. A reference without a key
# counts as the same class.
same_class(ref, r) if object.get(ref, ["key", "class"], r.key.class) == r.key.class

canary_annotation := sprintf("%s: \"true\"", [lib.vocab.nginx_canary])

# ---------------------------------------------------------------- CG201

# ref: "A canary rule with a host but no http block crashes the controller's
# merge code (nil pointer) — the controller's webhook call fails with it."
# Such a rule yields no route key (pkg/facts Routes skips it), so it is read
# from the object itself.
items contains lib.item("CG201", sprintf("spec.rules[%d]", [i]), msg) if {
	canary
	some i, rule in object.get(input.object, ["spec", "rules"], [])
	host := object.get(rule, "host", "")
	host != ""
	object.get(rule, "http", null) == null
	msg := sprintf(
		"canary rule for host %q has no http block; ingress-nginx's canary merge crashes on it (nil pointer), so ingress-nginx's own admission call fails; add http.paths with the canary backend for that host, or remove the rule",
		[host],
	)
}

# ---------------------------------------------------------------- CG202

# design §3: "Main route: a non-canary Ingress for a key … Two main routes for
# one key are an error." ref: the key has no namespace ("Namespaces need not
# match (keyed on host)"), so mains in any namespace count.
items contains lib.item("CG202", r.field, msg) if {
	main_route
	some r in routes
	mains := list(r, "mains")
	count(mains) > 0
	msg := sprintf(
		"route %s already has a main route: %s; one route key takes one main route, otherwise which backend serves it is ambiguous; remove this path from one of them, use another host or path, or make this Ingress a canary with %s",
		[route(r.key), names(mains), canary_annotation],
	)
}

# ---------------------------------------------------------------- CG203

# ref: "Only one canary per host/path takes effect (the oldest)." and
# "ingress-nginx's own admission webhook … admits a second canary for the same
# host/path."
items contains lib.item("CG203", r.field, msg) if {
	canary
	some r in routes
	canaries := list(r, "canaries")
	count(canaries) > 0
	msg := sprintf(
		"route %s already has a canary: %s; ingress-nginx consults only the oldest canary of a route, so all but one have no effect; change the existing canary instead, or delete it before creating this one",
		[route(r.key), names(canaries)],
	)
}

# ---------------------------------------------------------------- CG204

# ref: "A canary Ingress only takes effect when a main Ingress has the same
# host, the same path string (no prefix matching: /api ≠ /api/) and the same
# pathType … Without one, requests to the canary return 404." and "A canary
# with several paths where one has no matching main path gets its canary
# upstream deleted: the canary is dead on the matching paths too." A warning
# (codes.json): apply order can create the canary before its main route.
items contains lib.item("CG204", r.field, msg) if {
	canary
	some r in routes
	count(list(r, "mains")) == 0
	msg := sprintf(
		"route %s has no main route (no non-canary Ingress with the same host, exact path and pathType); requests to it return 404 until one exists%s; create the main route, or fix this path to match the main route exactly",
		[route(r.key), dead_elsewhere],
	)
}

# dead_elsewhere names the object's routes that do have a main route (the
# CG204 route itself has none): ingress-nginx deletes the canary upstream, so
# the canary is dead there too.
dead_elsewhere := sprintf(
	", and ingress-nginx drops this canary's upstream, so the canary is dead on %s too",
	[concat(", ", sort(matched))],
) if {
	matched := {route(o.key) |
		some o in routes
		count(list(o, "mains")) > 0
	}
	count(matched) > 0
} else := ""

# ---------------------------------------------------------------- CG205

# ref: "Canary Service = main Service → no canary at all." A Service is
# namespaced, so only a main route in the request's namespace can name the
# same Service.
items contains lib.item("CG205", r.field, msg) if {
	canary
	some r in routes
	r.service != ""
	same := [m |
		some m in list(r, "mains")
		m.namespace == input.request.namespace
		object.get(m, "service", "") == r.service
	]
	count(same) > 0
	msg := sprintf(
		"route %s: canary backend Service %q is also the backend of the main route (%s), so ingress-nginx builds no canary at all; point the canary at the new version's own Service",
		[route(r.key), r.service, names(same)],
	)
}

# ---------------------------------------------------------------- CG206

# ref: "A canary Service that is also used by a non-canary Ingress breaks one
# of them, depending on creation order." Seen from the canary: its Service
# has non-canary users on other routes.
items contains lib.item("CG206", r.field, msg) if {
	canary
	some r in routes
	users := [u |
		some u in list(r, "serviceUsers")
		object.get(u, "canary", false) == false
		same_class(u, r)
	]
	count(users) > 0
	msg := sprintf(
		"route %s: canary backend Service %q is also used by non-canary %s; ingress-nginx attaches canaries per Service upstream, so one of them breaks depending on creation order; give the canary a Service of its own",
		[route(r.key), r.service, names_on(users)],
	)
}

# The same conflict seen from a main route: its Service is another route's
# canary Service.
items contains lib.item("CG206", r.field, msg) if {
	main_route
	some r in routes
	users := [u |
		some u in list(r, "serviceUsers")
		object.get(u, "canary", false) == true
		same_class(u, r)
	]
	count(users) > 0
	msg := sprintf(
		"route %s: backend Service %q is also the canary backend of %s; ingress-nginx attaches canaries per Service upstream, so one of them breaks depending on creation order; give the canary a Service of its own, or this route another Service",
		[route(r.key), r.service, names_on(users)],
	)
}

# ---------------------------------------------------------------- CG207

# ref: "The canary is attached to the main Service's upstream
# (<ns>-<svc>-<port>), not to the location: every other host/path that uses
# the same main Service is canaried too." A warning (codes.json): sharing may
# be intended.
items contains lib.item("CG207", r.field, msg) if {
	canary
	some r in routes
	users := [u |
		some u in list(r, "mainServiceUsers")
		object.get(u, "canary", false) == false
		same_class(u, r)
	]
	count(users) > 0
	msg := sprintf(
		"route %s: the main route's Service %s is also used by %s; ingress-nginx attaches the canary to that Service's upstream, so those routes are canaried too; give the main route a Service of its own if they must not be",
		[route(r.key), main_services(users), names_on(users)],
	)
}

main_services(users) := concat(", ", sort({sprintf("%q", [s]) |
	some u in users
	s := object.get(u, "service", "")
	s != ""
}))
