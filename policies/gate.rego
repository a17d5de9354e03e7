# The gate (DESIGN §4): an InferenceService becomes the primary of a route or
# a Service only after it is verified; until then it may take a weighted
# share of at most max_unverified_weight percent, and header/cookie rules may
# route only the clients that opt in.
package canarygate.builtin.rules.gate

import data.canarygate.builtin.lib

settings := lib.settings

vocab := lib.vocab

# target returns the facts of an InferenceService the request depends on.
target(ref) := input.targets[key(ref)]

# problems lists [target key, reason] for every reason a target is not
# verified (DESIGN §4 "Verified").
problems contains [k, "it does not exist"] if {
	some k, t in input.targets
	not t.exists
	not object.get(t, "unreadable", false)
}

problems contains [k, "it could not be read (see CG307)"] if {
	some k, t in input.targets
	object.get(t, "unreadable", false)
}

problems contains [k, "it is not Ready"] if {
	some k, t in input.targets
	t.exists
	object.get(t.conditions, "Ready", "") != "True"
}

problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	t.observedGeneration != 0
	t.observedGeneration != t.generation
	msg := sprintf("its status describes generation %d, not the current generation %d", [t.observedGeneration, t.generation])
}

problems contains [k, sprintf("it is not marked verified (%s is not \"true\")", [vocab.verified])] if {
	some k, t in input.targets
	t.exists
	not t.verified
}

problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	t.verified
	got := object.get(t.annotations, vocab.verified_generation, "")
	got != sprintf("%d", [t.generation])
	msg := sprintf("it was verified at generation %q but is now at generation %d (its spec changed since; remove %s and set it again to re-verify)", [got, t.generation, vocab.verified])
}

problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	settings.min_soak_seconds > 0
	t.canarySince == ""
	msg := sprintf("it has not been exposed by a canary yet (min_soak_seconds is %d)", [settings.min_soak_seconds])
}

problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	settings.min_soak_seconds > 0
	t.canarySince != ""
	soaked := soaked_seconds(t.canarySince)
	soaked < settings.min_soak_seconds
	msg := sprintf("its canary has soaked %d s of the required %d s (since %s)", [floor(soaked), settings.min_soak_seconds, t.canarySince])
}

# A canary-since that is not an RFC 3339 time proves no soak: it fails the
# check instead of skipping it (fail closed).
problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	settings.min_soak_seconds > 0
	t.canarySince != ""
	not soaked_seconds(t.canarySince)
	msg := sprintf("its canary-since %q is not an RFC 3339 time, so its soak (min_soak_seconds %d) cannot be shown", [t.canarySince, settings.min_soak_seconds])
}

# soaked_seconds is the time since an RFC 3339 timestamp; undefined when the
# value is not one (checked before parsing, so no builtin error is raised).
soaked_seconds(since) := (input.now_ns - time.parse_rfc3339_ns(since)) / 1000000000 if lib.rfc3339(since)


problems contains [k, msg] if {
	some k, t in input.targets
	t.exists
	settings.require_distinct_verifier
	object.get(t.annotations, vocab.verified_by, "") == input.request.userInfo.username
	msg := sprintf("it was verified by %s, who may not also switch it (require_distinct_verifier)", [input.request.userInfo.username])
}

key(ref) := sprintf("%s/%s", [ref.namespace, ref.name])

# unverified returns why the target ref is not verified; empty: verified.
unverified(ref) := {msg | some [k, msg] in problems; k == key(ref)}

verified(ref) if {
	target(ref)
	count(unverified(ref)) == 0
}

default target_unverified(_) := true

target_unverified(ref) := false if verified(ref)

# why joins the reasons a target is not verified.
why(ref) := concat("; ", sort(unverified(ref))) if target(ref)

else := "it could not be read"

annotate_hint(ref) := sprintf("check it is Ready, then run: kubectl annotate inferenceservice %s -n %s %s=true", [ref.name, ref.namespace, vocab.verified])

# Rollback (DESIGN §4): a primary change towards the previous-isvc recorded
# on the old object is allowed when that target is Ready (for its current
# generation) and still at the recorded generation.
rollback(ref) if {
	prev := object.get(lib.old_annotations, vocab.previous_isvc, "")
	prev != ""
	ref.name == prev
	ref.namespace == input.request.namespace
	t := target(ref)
	t.exists
	object.get(t.conditions, "Ready", "") == "True"
	not stale_status(t)
	object.get(lib.old_annotations, vocab.previous_generation, "") == sprintf("%d", [t.generation])
}

# stale_status: KServe's status describes an older generation, so its Ready
# says nothing about the current spec.
stale_status(t) if {
	t.observedGeneration != 0
	t.observedGeneration != t.generation
}

# backing_out: the route goes back to what its unchanged main route
# resolves to (leaving a full-weight canary).
backing_out(s) if {
	s.main.name != ""
	s.to == s.main
	s.main == s.mainBefore
}

# first_deployment: a route or Service that had no primary before gets one
# (DESIGN §4 "From no primary to any: allowed"). A switch without a from
# field is not one (fail closed), nor is one on an object that records a
# previous primary (canarygate.io/previous-isvc): it served traffic before,
# and X → no primary → Y in two requests must not pass as a first
# deployment.
first_deployment(s) if {
	s.from.name == ""
	object.get(lib.old_annotations, vocab.previous_isvc, "") == ""
}

exempt_switch(s) if first_deployment(s)

exempt_switch(s) if backing_out(s)

exempt_switch(s) if rollback(s.to)

# about prefixes a message with what it is about, unless that is the object
# itself (lib.item already names it).
about(subject) := "" if subject == lib.subject

else := sprintf("%s: ", [subject])

# CG301: the switch itself.
items contains lib.item("CG301", s.field, msg) if {
	some s in input.switches
	not exempt_switch(s)
	target_unverified(s.to)
	from := object.get(s, "from", {})
	msg := sprintf("%sswitching the primary %s to %s is blocked: %s is not verified: %s; %s", [
		about(s.subject),
		from_text(from), display(s.to), display(s.to), why(s.to), annotate_hint(s.to),
	])
}

# display names an InferenceService by name in the request's namespace and
# by namespace/name elsewhere (ingress-nginx routes by host across
# namespaces, so a route may switch between namespaces).
display(ref) := ref.name if ref.namespace == input.request.namespace

else := sprintf("%s/%s", [ref.namespace, ref.name])

from_text(ref) := sprintf("from %s", [display(ref)]) if object.get(ref, "name", "") != ""

else := "(none before)"

# effective_total is the total ingress-nginx divides the weight by: a total
# below 100 counts as 100. It never trusts a missing or zero effectiveTotal
# (a division by zero would silently drop the exposure items).
effective_total(spec) := max([100, object.get(spec, "effectiveTotal", 0), object.get(spec, "weightTotal", 0)])

# percent of traffic a weight routes (not rounded: 50.1 is above 50).
percent(spec) := (spec.weight * 100) / effective_total(spec)

# CG302: a weighted share above max_unverified_weight.
items contains lib.item("CG302", e.field, msg) if {
	some e in input.exposures
	target_unverified(e.target)
	p := percent(e.spec)
	p > settings.max_unverified_weight
	msg := sprintf("%sweight %d of %d sends %d%% of traffic to %s, above max_unverified_weight %d%% for an InferenceService that is not verified (%s); lower the weight to at most %d%% or verify %s first", [
		about(e.subject), e.spec.weight, effective_total(e.spec), floor(p), e.target.name,
		settings.max_unverified_weight, why(e.target), settings.max_unverified_weight, e.target.name,
	])
}

# normal_header folds case and treats - and _ alike, as nginx does when it
# looks the header up as $http_<name>.
normal_header(h) := lower(replace(h, "_", "-"))

every_request(h) if {
	some x in settings.every_request_headers
	normal_header(x) == normal_header(h)
}

# Sample values of common headers: a pattern matching all of them accepts any
# value a client sends.
any_value_samples := [
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
	"curl/8.5.0",
	"python-requests/2.32.3",
	"text/html,application/json;q=0.9",
	"Bearer eyJhbGciOiJSUzI1NiJ9",
	"model.example.com",
	"session=abc123",
	"gzip, deflate, br",
	"en-US,en;q=0.5",
	"x",
]

matches_any_value(spec) if {
	spec.headerValue == ""
	spec.headerPattern != ""
	regex.is_valid(spec.headerPattern)
	every v in any_value_samples {
		regex.match(spec.headerPattern, v)
	}
}

# A pattern Go cannot parse (PCRE-only syntax) cannot be shown to be
# bounded: on an every-request header it counts as accepting any value.
matches_any_value(spec) if {
	spec.headerValue == ""
	spec.headerPattern != ""
	not regex.is_valid(spec.headerPattern)
}

# CG303: a header rule every client matches.
items contains lib.item("CG303", e.field, msg) if {
	some e in input.exposures
	e.spec.header != ""
	every_request(e.spec.header)
	matches_any_value(e.spec)
	target_unverified(e.target)
	msg := sprintf("%sheader rule %s ~ %q routes every client to %s, which is not verified (%s); use a header only opt-in clients send (e.g. X-Canary) or an exact header value", [
		about(e.subject), e.spec.header, e.spec.headerPattern, e.target.name, why(e.target),
	])
}

# CG304: a weight step above max_weight_step percent points (increases only;
# lowering a weight is always allowed).
items contains lib.item("CG304", e.field, msg) if {
	some e in input.exposures
	e.old != null
	step := percent(e.spec) - percent(e.old)
	step > settings.max_weight_step
	msg := sprintf("%sraising the canary from %d%% to %d%% of traffic is a step of %d points, above max_weight_step %d; raise it in smaller steps", [
		about(e.subject), floor(percent(e.old)), floor(percent(e.spec)), floor(step), settings.max_weight_step,
	])
}

# declared reads a canary key as an annotation, else a label.
declared(obj, key) := v if {
	v := obj.metadata.annotations[key]
} else := v if {
	v := obj.metadata.labels[key]
}

# CG305: verification by a user outside verifier_groups.
items contains lib.item("CG305", lib.annotation_field(vocab.verified), msg) if {
	lib.kind == "InferenceService"
	lib.writing
	declared(input.object, vocab.verified) == "true"
	not old_verified
	count(settings.verifier_groups) > 0
	not verifier
	msg := sprintf("%s may not verify: only members of %v may set %s; ask one of them to verify", [
		input.request.userInfo.username, settings.verifier_groups, vocab.verified,
	])
}

old_verified if declared(input.oldObject, vocab.verified) == "true"

verifier if {
	some g in input.request.userInfo.groups
	g in settings.verifier_groups
}

# CG306: break-glass override used (DESIGN §2): honoured only in the request
# that sets or changes canarygate.io/override-reason, only for members of
# override_groups; always reported.
override if {
	reason := object.get(lib.annotations, vocab.override_reason, "")
	reason != ""
	reason != object.get(lib.old_annotations, vocab.override_reason, "")
	some g in input.request.userInfo.groups
	g in settings.override_groups
}

items contains lib.item("CG306", lib.annotation_field(vocab.override_reason), msg) if {
	override
	msg := sprintf("break-glass override by %s: %q; gate denials of this request are reported as warnings and audited", [
		input.request.userInfo.username, lib.annotations[vocab.override_reason],
	])
}

# CG307: facts the decision needs could not be read; the gate denies rather
# than guesses.
items contains lib.item("CG307", "", msg) if {
	count(input.errors) > 0
	msg := sprintf("cannot decide safely because %s; retry, and check canarygate's access to the API server", [concat("; ", input.errors)])
}
