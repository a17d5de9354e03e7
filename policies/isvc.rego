# Value and structure rules for the canarygate.io/ keys (and stray nginx
# canary keys) of one InferenceService (codes CG251–CG256, all on the lint
# endpoint).
#
# Every rule names the fact it enforces: "design:" quotes DESIGN.md, "ref:"
# quotes shared/reference/ingress-nginx-canary.md. Key names come from the
# vocabulary (data.canarygate.builtin.vocab, built from pkg/canary/keys.go) and
# are never spelled here. The value checks mirror pkg/canary FromKeys, which
# the mutating webhook and the gate use, so a declaration this file admits is
# one they can read.
package canarygate.builtin.rules.isvc

import data.canarygate.builtin.lib

vocab := data.canarygate.builtin.vocab

# design §2: the declaration lives on the InferenceService; lint judges writes.
applies if {
	lib.writing
	lib.kind == "InferenceService"
}

default labels := {}

labels := lib.labels if applies

default annotations := {}

annotations := lib.annotations if applies

# design §2: "weight-total | integer ≥ 100, default 100".
default_total := 100

# design §2: the strategy keys, i.e. every declaration key except stable (the
# intent) and verified (which any switch target may carry).
canary_keys := {
	vocab.weight,
	vocab.weight_total,
	vocab.header,
	vocab.header_value,
	vocab.header_pattern,
	vocab.cookie,
}

# design §2 and §4: the canarygate.io/ keys an InferenceService may carry.
known_keys := {k | some k in array.concat(vocab.declaration_keys, vocab.stamp_keys)} | {
	vocab.inject,
	vocab.override_reason,
}

# declared maps each declaration key present to its effective value and the
# field it came from. design §2: "Any key may be a label or an annotation;
# when both carry the same key, the annotation wins".
# It is a complete rule, built once per query: as a partial object every
# declared[k] lookup re-evaluated both definitions.
declared := object.union(
	{key: {"value": v, "field": lib.label_field(key), "label": true} |
		some key in keys
		v := lbls[key]
	},
	{key: {"value": v, "field": lib.annotation_field(key), "label": false} |
		some key in keys
		v := anns[key]
	},
) if {
	# Virtual documents bound to locals once: a lookup of a rule's value
	# inside a loop costs far more than a lookup of a local.
	keys := vocab.declaration_keys
	lbls := labels
	anns := annotations
}

# total bounds the weight: the declared total when valid, else the default
# (pkg/canary FromKeys does the same).
total := n if {
	v := declared[vocab.weight_total].value
	lib.plain_int(v)
	n := to_number(v)
	n >= default_total
} else := default_total

own_name := object.get(input.object, ["metadata", "name"], input.request.name)

# ---------------------------------------------------------------- CG251

# design §2: "weight | integer 0..total".
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.weight]
	not lib.plain_int(d.value)
	msg := sprintf("%s %q is not a plain non-negative integer; write digits only, between 0 and %d", [vocab.weight, d.value, total])
}

items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.weight]
	lib.plain_int(d.value)
	to_number(d.value) > total
	msg := sprintf("%s %q is greater than the total %d; write a weight between 0 and %d", [vocab.weight, d.value, total, total])
}

# design §2: "weight-total | integer ≥ 100, default 100"; ref: a total below
# 100 is treated as 100 by the Lua balancer.
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.weight_total]
	not valid_total(d.value)
	msg := sprintf("%s %q must be an integer of at least 100 (digits only); omit it for percentages", [vocab.weight_total, d.value])
}

valid_total(v) if {
	lib.plain_int(v)
	to_number(v) >= default_total
}

# design §2: header, header-value and cookie become canary-by-header,
# canary-by-header-value and canary-by-cookie; ref: those accept only the
# basic character set and silently become "" otherwise. "" means unset.
items contains lib.item("CG251", d.field, msg) if {
	some key in {vocab.header, vocab.header_value, vocab.cookie}
	d := declared[key]
	not regex.match(vocab.charset_basic, d.value)
	msg := sprintf(
		"%s %q contains %q, outside the characters ingress-nginx accepts (it would drop the value); use only characters matching %s",
		[key, d.value, lib.outside(vocab.charset_basic, d.value), vocab.charset_basic],
	)
}

# design §2: "header-pattern | regex (annotation only)".
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.header_pattern]
	d.label
	msg := sprintf("%s must be an annotation, not a label; move %q to metadata.annotations", [vocab.header_pattern, d.value])
}

# ref: canary-by-header-pattern accepts only its character set and silently
# becomes "" otherwise.
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.header_pattern]
	not d.label
	not regex.match(vocab.charset_pattern, d.value)
	msg := sprintf(
		"%s %q contains %q, outside the characters ingress-nginx accepts (it would drop the pattern); use only characters matching %s",
		[vocab.header_pattern, d.value, lib.outside(vocab.charset_pattern, d.value), vocab.charset_pattern],
	)
}

# ref: "a pattern RE2 cannot parse … cannot be checked here"; canarygate
# renders this pattern itself, so it accepts only what it can check.
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.header_pattern]
	not d.label
	regex.match(vocab.charset_pattern, d.value)
	not regex.is_valid(d.value)
	msg := sprintf(
		"%s %q is not a valid Go (RE2) regular expression, so canarygate cannot check it; rewrite it without PCRE-only features such as lookaround, backreferences or possessive quantifiers",
		[vocab.header_pattern, d.value],
	)
}

# design §2: "verified | "true" once a person or an analysis verified the canary".
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.verified]
	not d.value in {"true", "false"}
	msg := sprintf("%s %q must be \"true\" or \"false\"", [vocab.verified, d.value])
}

# design §2: "stable | name of the stable InferenceService this one is a
# canary of"; an object name is a DNS-1123 label.
items contains lib.item("CG251", d.field, msg) if {
	d := declared[vocab.stable]
	problem := stable_problem(d.value)
	msg := sprintf("%s %q %s", [vocab.stable, d.value, problem])
}

stable_problem(v) := "is empty; set it to the name of the stable InferenceService, or remove it" if {
	v == ""
} else := "names this InferenceService itself; set it to the name of the stable InferenceService this one is a canary of" if {
	v == own_name
} else := "is not a valid InferenceService name (lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit)" if {
	not dns1123_label(v)
}

dns1123_label(v) if {
	count(v) <= 63
	regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, v)
}

# ---------------------------------------------------------------- CG252

# design §2: "when both carry the same key, the annotation wins and a warning
# says so".
items contains lib.item("CG252", lib.label_field(key), msg) if {
	some key in vocab.declaration_keys
	a := annotations[key]
	l := labels[key]
	msg := sprintf(
		"%s is set both as a label (%q) and as an annotation (%q); the annotation %q wins; keep one of them (the annotation if the value will change: label changes restart the model's pods)",
		[key, l, a, a],
	)
}

# ---------------------------------------------------------------- CG253

# design §2: "KServe copies an InferenceService's labels … onto the
# predictor's pod template, changing either restarts the model's pods. The
# docs therefore recommend: declare the canary with labels at creation; change
# weights and verification with annotations; add canarygate's annotation keys
# to KServe's serviceAnnotationDisallowedList. canarygate warns when a label
# change on an existing InferenceService will restart its pods."
label_changes[key] := sprintf("%s %q → %q", [key, old, new]) if {
	some key, new in labels
	startswith(key, vocab.prefix)
	old := lib.old_labels[key]
	old != new
}

label_changes[key] := sprintf("%s added (%q)", [key, new]) if {
	some key, new in labels
	startswith(key, vocab.prefix)
	not key in object.keys(lib.old_labels)
}

label_changes[key] := sprintf("%s removed (was %q)", [key, old]) if {
	applies
	some key, old in lib.old_labels
	startswith(key, vocab.prefix)
	not key in object.keys(labels)
}

items contains lib.item("CG253", lib.label_field(first), msg) if {
	input.request.operation == "UPDATE"
	keys := sort(object.keys(label_changes))
	count(keys) > 0
	first := keys[0]
	msg := sprintf(
		"this update changes labels (%s), which restarts the model's pods: KServe copies an InferenceService's labels onto the predictor's pod template; declare the canary with labels at creation, change weights and verification with annotations (they win over labels), and add canarygate's annotation keys to KServe's serviceAnnotationDisallowedList",
		[concat(", ", [label_changes[k] | some k in keys])],
	)
}

# ---------------------------------------------------------------- CG254

# design §2: the vocabulary is the declaration keys, the stamps, inject and
# override-reason; any other canarygate.io/ key is a typo canarygate would
# silently ignore.
items contains lib.item("CG254", field, msg) if {
	some [key, field] in prefixed_keys
	startswith(key, vocab.prefix)
	not key in known_keys
	msg := sprintf(
		"%q is not a canarygate key and would be ignored; did you mean %q?",
		[key, lib.closest(key, known_keys, vocab.prefix)],
	)
}

# prefixed_keys: every label and annotation key with its field path.
prefixed_keys := {[k, lib.annotation_field(k)] | some k, _ in annotations} | {[k, lib.label_field(k)] | some k, _ in labels}

# ---------------------------------------------------------------- CG255

# design §2: "stable | … declares canary intent"; §3: injection applies only
# to an InferenceService declaring canarygate.io/stable, so canary keys
# without it are ignored.
items contains lib.item("CG255", declared[first].field, msg) if {
	not declared[vocab.stable]
	present := [k | some k in vocab.declaration_keys; k in canary_keys; declared[k]]
	count(present) > 0
	first := present[0]
	msg := sprintf(
		"%s set without %s, so canarygate treats this InferenceService as no canary and injects nothing; add %s: <name of the stable InferenceService>",
		[concat(", ", present), vocab.stable, vocab.stable],
	)
}

# ---------------------------------------------------------------- CG256

# ref: KServe's own Ingress for an InferenceService "copies the
# InferenceService's annotations (so an nginx canary annotation placed on an
# InferenceService would turn KServe's main Ingress into a canary)"; KServe
# copies labels unfiltered onto the predictor pods, where nginx keys mean
# nothing: the canary belongs in canarygate.io/ keys either way. Keys are
# compared case-insensitively to catch the misspelt ones too.
items contains lib.item("CG256", lib.annotation_field(key), msg) if {
	some key, _ in annotations
	startswith(lower(key), vocab.nginx_canary)
	msg := sprintf(
		"annotation %q on an InferenceService: KServe copies its annotations to the Ingress it creates, which would turn KServe's own main Ingress into a canary; declare the canary with %s instead",
		[key, equivalent(key)],
	)
}

items contains lib.item("CG256", lib.label_field(key), msg) if {
	some key, _ in labels
	startswith(lower(key), vocab.nginx_canary)
	msg := sprintf(
		"label %q on an InferenceService: ingress-nginx reads canary settings only from a canary Ingress's annotations, and KServe copies this label onto the model's pods; declare the canary with %s instead",
		[key, equivalent(key)],
	)
}

# equivalent names the canarygate key that renders an nginx canary annotation
# (design §2, the key table); a misspelt nginx key is matched to the closest
# real one first.
equivalent(key) := vocab_equivalents[nginx_key] if {
	nginx_key := lib.closest(key, vocab.nginx_canary_keys, vocab.nginx_prefix)
	vocab_equivalents[nginx_key]
} else := sprintf("%s… keys", [vocab.prefix])

vocab_equivalents := {
	vocab.nginx_canary: sprintf("%s (on the canary InferenceService, naming the stable one)", [vocab.stable]),
	vocab.nginx_weight: vocab.weight,
	vocab.nginx_weight_total: vocab.weight_total,
	vocab.nginx_header: vocab.header,
	vocab.nginx_header_value: vocab.header_value,
	vocab.nginx_header_pattern: vocab.header_pattern,
	vocab.nginx_cookie: vocab.cookie,
}
