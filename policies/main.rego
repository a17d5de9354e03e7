# The entry point the engine queries: every decision item of the built-in
# rules and of the platform rules, each with the endpoint it belongs to and
# the enforcement that applies to it in the request's namespace.
package canarygate.builtin.main

import data.canarygate.builtin.config

# Built-in rules live in packages canarygate.builtin.rules.<area>, each
# defining a set `items` of {code, message, field}. Only the areas that
# judge the request's kind, and can emit codes of the endpoint asked for
# (input.endpoint: "gate", "lint", or absent for both, as `check` asks),
# are evaluated: a Service request never pays for the Ingress annotation
# rules, nor a lint request for the gate's verification rules. Every code's
# endpoint is in codes.json, and every area holds codes of one endpoint
# (policies/codes_test.go keeps it so).
areas := {
	"Ingress": {"gate": ["crossns", "gate", "stamps", "deletion"], "lint": ["nginx", "structure"]},
	"Service": {"gate": ["gate", "stamps", "deletion"], "lint": []},
	"InferenceService": {"gate": ["gate", "stamps", "deletion"], "lint": ["isvc"]},
}

default endpoints := {"gate", "lint"}

endpoints := {input.endpoint} if input.endpoint in {"gate", "lint"}

builtin contains object.union(item, {
	"endpoint": object.get(data.canarygate.builtin.codes, [item.code, "endpoint"], "gate"),
	"origin": "builtin",
}) if {
	some area in {a | some ep in endpoints; some a in areas[input.request.kind.kind][ep]}
	some item in data.canarygate.builtin.rules[area].items
}

# Platform rules live in packages canarygate.ext.<name> and emit the same
# items through a set named `items`; they may say which endpoint they belong
# to and default to the gate (fail closed).
ext contains object.union(
	object.union({"endpoint": "gate"}, item),
	{"origin": concat("/", ["ext", name])},
) if {
	some name
	some item in data.canarygate.ext[name].items
}

# Stamp codes are never overridable: break-glass is for traffic decisions,
# not for forging who verified what. Nor is the report of the override itself
# (CG306): a platform that sets it to deny forbids break-glass, and the
# override must not turn that denial into a warning.
not_overridable := {"CG401", "CG306"}

overridden(item) if {
	data.canarygate.builtin.rules.gate.override
	item.endpoint == "gate"
	not item.code in not_overridable
	config.enforcement(item.code) == "deny"
}

# all_items is every item of the built-in and platform rules, gathered once
# per query (each decision rule iterating `builtin | ext` rebuilt the union).
all_items := builtin | ext

# decision is the set of items with their enforcement: deny, warn or dryrun.
# Under a break-glass override (CG306) gate denials become warnings.
decision contains decided(item) if some item in all_items

decided(item) := object.union(item, {
	"enforcement": "warn",
	"message": concat("", ["overridden: ", item.message]),
}) if {
	overridden(item)
} else := object.union(item, {"enforcement": config.enforcement(item.code)})
