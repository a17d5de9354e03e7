# Release rules of the example.com platform team, on top of canarygate's
# built-in policies. Codes CGX01–CGX04 are documented in the bundle's
# README.md. Every threshold is a setting read from the effective settings
# of the request's namespace — the built-in defaults, then
# canarygate.config.settings, then the namespace's profile (label
# canarygate.io/profile) — so each profile can tune them in data.
package canarygate.ext.platform

settings := data.canarygate.builtin.config.settings

vocab := data.canarygate.builtin.vocab

# The weight ladder, in percent of traffic. 0 (no weighted traffic) is
# always allowed; the last step (100) additionally needs a verified
# InferenceService, which the built-in gate enforces through
# max_unverified_weight (CG302).
steps := object.get(settings, "platform_weight_steps", [5, 20, 50, 100])

# The header a canary must route in this namespace ("" = none required).
required_header := object.get(settings, "platform_canary_header", "")

owner_label := object.get(settings, "platform_owner_label", "example.com/team")

profile := data.canarygate.builtin.config.profile_name

# percent of traffic a strategy sends to the canary, as the built-in gate
# computes it (a weight total below 100 counts as 100).
percent(spec) := (spec.weight * 100) / max([100, object.get(spec, "effectiveTotal", 0), object.get(spec, "weightTotal", 0)])

# old_percent is the share before the request: 0 for a new canary.
old_percent(e) := percent(e.old) if {
	object.get(e, "old", null) != null
} else := 0

on_ladder(p) if p == 0

on_ladder(p) if {
	some s in steps
	s == p
}

# next_step is the first step above a share.
next_step(p) := min({s | some s in steps; s > p})

isvc(e) if startswith(e.subject, "InferenceService ")

# key_field is the field path of the key that sets a strategy value: the
# canarygate.io/ key on an InferenceService (annotation or label), the
# nginx annotation on an Ingress.
key_field(e, nginx, key) := sprintf("metadata.annotations[%q]", [key]) if {
	isvc(e)
	input.object.metadata.annotations[key]
} else := sprintf("metadata.labels[%q]", [key]) if {
	isvc(e)
} else := sprintf("metadata.annotations[%q]", [nginx])

weight_field(e) := key_field(e, vocab.nginx_weight, vocab.weight)

header_field(e) := key_field(e, vocab.nginx_header, vocab.header)

# normal_header folds case and treats - and _ alike, as nginx does.
normal_header(h) := lower(replace(h, "_", "-"))

# CGX01: a weighted share off the ladder.
items contains {
	"code": "CGX01",
	"field": weight_field(e),
	"message": sprintf("%s: canary weight %v%% of traffic is not a release step; use 0 or one of %v percent", [e.subject, p, steps]),
} if {
	some e in input.exposures
	p := percent(e.spec)
	not on_ladder(p)
}

# CGX02: raising the share past a step of the ladder.
items contains {
	"code": "CGX02",
	"field": weight_field(e),
	"message": sprintf("%s: raising the canary from %v%% to %v%% of traffic skips the %v%% step; raise it to %v%% first and let it soak (steps: %v)", [e.subject, from, p, next, next, steps]),
} if {
	some e in input.exposures
	p := percent(e.spec)
	on_ladder(p)
	from := old_percent(e)
	p > from
	next := next_step(from)
	p > next
}

# CGX03: a canary that does not route the header the namespace's profile
# requires, so testers cannot reach it on demand.
items contains {
	"code": "CGX03",
	"field": header_field(e),
	"message": sprintf("%s: canaries in namespaces of profile %q must route the header %s (found %q); declare %s: %s on the canary InferenceService, or %s: %s on the canary Ingress", [e.subject, profile, required_header, e.spec.header, vocab.header, required_header, vocab.nginx_header, required_header]),
} if {
	required_header != ""
	some e in input.exposures
	e.spec.exposes
	normal_header(e.spec.header) != normal_header(required_header)
}

# CGX04 (lint): a canary InferenceService names its owning team, so the
# on-call engineer knows whom to page. Rolled out as dryrun first.
items contains {
	"code": "CGX04",
	"endpoint": "lint",
	"field": sprintf("metadata.labels[%q]", [owner_label]),
	"message": sprintf("InferenceService %s/%s: canary has no %s label; add %s: <team> so on-call knows whom to page", [input.request.namespace, input.request.name, owner_label, owner_label]),
} if {
	input.request.kind.kind == "InferenceService"
	input.request.operation in {"CREATE", "UPDATE"}
	declares_canary
	not input.object.metadata.labels[owner_label]
}

declares_canary if input.object.metadata.labels[vocab.stable]

declares_canary if input.object.metadata.annotations[vocab.stable]
