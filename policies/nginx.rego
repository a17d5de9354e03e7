# Value and structure rules for the ingress-nginx canary annotations of one
# governed Ingress (codes CG101–CG116, all on the lint endpoint).
#
# Every rule names the fact it enforces: "ref:" quotes
# shared/reference/ingress-nginx-canary.md (ingress-nginx v1.15 source),
# "design:" quotes DESIGN.md. Key names come from the vocabulary
# (data.canarygate.builtin.vocab, built from pkg/canary/keys.go) and are never
# spelled here.
package canarygate.builtin.rules.nginx

import data.canarygate.builtin.lib

vocab := data.canarygate.builtin.vocab

# design §3: "Ingresses of classes not governed are ignored"; §4: lint covers
# writes, deletions carry no annotations to judge.
applies if {
	lib.writing
	lib.kind == "Ingress"
	object.get(input, ["ingress", "governed"], false) == true
}

default annotations := {}

annotations := lib.annotations if applies

# ref: canary is read with Go strconv.ParseBool; "yes" is invalid.
parse_bool_true := {"1", "t", "T", "TRUE", "true", "True"}

parse_bool_false := {"0", "f", "F", "FALSE", "false", "False"}

# ref: canary-weight-total defaults to 100.
default_total := 100

# enabled: ingress-nginx treats the Ingress as a canary.
enabled if annotations[vocab.nginx_canary] in parse_bool_true

# ref: the strategy annotations (everything but the opt-in and the affinity
# behaviour); pkg/canary StrategyKeys is the same list.
strategy_keys := {
	vocab.nginx_weight,
	vocab.nginx_weight_total,
	vocab.nginx_header,
	vocab.nginx_header_value,
	vocab.nginx_header_pattern,
	vocab.nginx_cookie,
}

has(key) if key in object.keys(annotations)

# non_empty(key): the annotation is set to something; ingress-nginx treats
# "" like an absent annotation (its defaults are "").
non_empty(key) if annotations[key] != ""

# short names an annotation in a message: "canary-weight".
short(key) := trim_prefix(key, vocab.nginx_prefix)

# ---------------------------------------------------------------- CG101

# ref: "canary | Go strconv.ParseBool (true, 1, t, TRUE…); "yes" is invalid |
# default false" and "An invalid value is not rejected: the controller logs a
# warning and uses the default".
items contains lib.item("CG101", lib.annotation_field(key), msg) if {
	key := vocab.nginx_canary
	v := annotations[key]
	not v in parse_bool_true
	not v in parse_bool_false
	msg := sprintf(
		"%s %q is not a boolean ingress-nginx accepts (Go strconv.ParseBool); it would silently read false and serve this Ingress as a main route, not a canary; write \"true\" or \"false\"",
		[short(key), v],
	)
}

# ---------------------------------------------------------- CG102, CG103

# ref: "canary-weight | strconv.Atoi: "50%", "5.5", " 50" invalid; -5 and 150
# are accepted as written | 0" and "canary-weight: "abc" → 0"; lib.plain_int
# is canarygate's stricter form (digits only).
items contains lib.item("CG102", lib.annotation_field(key), msg) if {
	key := vocab.nginx_weight
	v := annotations[key]
	not lib.plain_int(v)
	msg := sprintf(
		"%s %q is not a plain non-negative integer; %s; write digits only, e.g. %q",
		[short(key), v, atoi_reading(v, "0 (no traffic to the canary)", "no traffic to the canary"), digits_hint(v, "10")],
	)
}

# ref: "canary-weight-total | strconv.Atoi | 100".
items contains lib.item("CG103", lib.annotation_field(key), msg) if {
	key := vocab.nginx_weight_total
	v := annotations[key]
	not lib.plain_int(v)
	msg := sprintf(
		"%s %q is not a plain non-negative integer; %s; write digits only, e.g. %q, or omit it for percentages",
		[short(key), v, atoi_reading(v, "100", "treated as 100"), digits_hint(v, "100")],
	)
}

# atoi_reading says what ingress-nginx makes of a value that is not a plain
# integer: Go's Atoi accepts a sign (ref: "-5 ... accepted as written"),
# anything else falls back to the default (ref: "uses the default").
# negative is what a negative number means for this annotation.
atoi_reading(v, fallback, negative) := sprintf("ingress-nginx would read it as %s (%s)", [v, negative]) if {
	regex.match(`^-[0-9]+$`, v)
} else := sprintf("ingress-nginx would read it as %s", [trim_prefix(v, "+")]) if {
	regex.match(`^\+[0-9]+$`, v)
} else := sprintf("ingress-nginx would silently use %s", [fallback])

# digits_hint proposes the digits the writer most likely meant ("50%" → "50"),
# else the example.
digits_hint(v, example) := d if {
	d := regex.find_n(`[0-9]+`, v, 1)[0]
} else := example

# ---------------------------------------------------------- CG104, CG105

# declared_total: the written total, the default when it is absent, undefined
# when it does not parse (CG103 reports it; CG104 applies only when both parse).
declared_total := n if {
	lib.plain_int(annotations[vocab.nginx_weight_total])
	n := to_number(annotations[vocab.nginx_weight_total])
} else := default_total if {
	not has(vocab.nginx_weight_total)
}

# ref: "canary-weight-total below 100 is treated as 100 by the Lua balancer
# (total = weightTotal > 100 ? weightTotal : 100). Weight ≥ total sends all
# traffic to the canary".
items contains lib.item("CG104", lib.annotation_field(key), msg) if {
	key := vocab.nginx_weight
	lib.plain_int(annotations[key])
	w := to_number(annotations[key])
	w > declared_total
	msg := sprintf(
		"%s %q is greater than the total %d; %s; write a weight between 0 and %d",
		[short(key), annotations[key], declared_total, weight_effect(w, declared_total), declared_total],
	)
}

weight_effect(w, total) := "ingress-nginx would send all traffic to the canary" if {
	w >= max({total, default_total})
} else := sprintf("ingress-nginx treats a total below 100 as 100 and would send %d%% of the traffic to the canary", [w])

# ref: "canary-weight-total below 100 is treated as 100 by the Lua balancer";
# design §2: "weight-total | integer ≥ 100".
items contains lib.item("CG105", lib.annotation_field(key), msg) if {
	key := vocab.nginx_weight_total
	lib.plain_int(annotations[key])
	to_number(annotations[key]) < default_total
	msg := sprintf(
		"%s %q is below 100; ingress-nginx silently treats it as 100, so %s is read as a percentage; write 100 or more, or omit it for percentages",
		[short(key), annotations[key], short(vocab.nginx_weight)],
	)
}

# ------------------------------------------------------ CG106, CG107, CG108

# ref: "canary-by-header | only letters, digits and / - . _ ~ :",
# "canary-by-header-value | same character set (=, ,, *, spaces rejected)",
# "canary-by-cookie | basic character set", and "a header value with = → "",
# which turns the header rule into always/never semantics".
basic_rules := {
	vocab.nginx_header: {"code": "CG106", "effect": "ingress-nginx would silently use \"\" (no header rule)"},
	vocab.nginx_header_value: {"code": "CG107", "effect": "ingress-nginx would silently use \"\", so the header rule would only follow the header values always/never"},
	vocab.nginx_cookie: {"code": "CG108", "effect": "ingress-nginx would silently use \"\" (no cookie rule)"},
}

items contains lib.item(rule.code, lib.annotation_field(key), msg) if {
	some key, rule in basic_rules
	v := annotations[key]
	not regex.match(vocab.charset_basic, v)
	msg := basic_message(key, v, rule.effect)
}

# basic_message: spaces alone get their own wording. ingress-nginx v1.15
# validates these three annotations with spaces removed
# (ValidateRegex(BasicCharsRegex, true) in canary/main.go) and then trims the
# value (pkg/canary FromNginx), so it keeps a different value rather than
# dropping it; canarygate still rejects spaces.
basic_message(key, v, effect) := msg if {
	lib.outside(vocab.charset_basic, v) == " "
	msg := sprintf(
		"%s %q contains spaces; ingress-nginx trims the ends and keeps inner spaces, so it would not match what is written; remove the spaces",
		[short(key), v],
	)
} else := charset_message(key, v, vocab.charset_basic, effect)

charset_message(key, v, charset, effect) := sprintf(
	"%s %q contains %q, outside the characters ingress-nginx accepts; %s; use only characters matching %s",
	[short(key), v, lib.outside(charset, v), effect, charset],
)

# ---------------------------------------------------------------- CG109

# ref: "canary-by-header-pattern | the basic set plus ^ $ [ ] ( ) { } * + ? & = \
# and the pipe; no spaces, no commas" and "a bad pattern → """.
items contains lib.item("CG109", lib.annotation_field(key), msg) if {
	key := vocab.nginx_header_pattern
	v := annotations[key]
	not regex.match(vocab.charset_pattern, v)
	msg := charset_message(
		key, v, vocab.charset_pattern,
		"ingress-nginx would silently use \"\", so the header rule would only follow the header values always/never",
	)
}

# ---------------------------------------------------------- CG110, CG111

# ref: "Go's regexp (RE2) is stricter than the PCRE nginx uses: a pattern RE2
# cannot parse because it uses PCRE-only features (lookaround, backreferences)
# cannot be checked here — warn rather than deny; a pattern that is invalid in
# both is an error." A pattern RE2 rejects is explained by PCRE-only features
# when rewriting those features into RE2 equivalents makes it parse.
#
# Reachable features: the character set (CG109) admits ( ? = \ digits * + { },
# so lookahead (?= , backreferences \1..\9 and possessive quantifiers
# *+ ++ ?+ }+ can reach these rules; (?! (?<= (?<! (?> need ! < > and are
# always CG109 first. They are rewritten all the same, so the rule stays right
# if the character set grows.
pcre_rewrites := {
	`\\`: "b", # an escaped backslash is a literal: keep "\\1" from reading as a backreference
	"(?=": "(?:",
	"(?!": "(?:",
	"(?<=": "(?:",
	"(?<!": "(?:",
	"(?>": "(?:",
	"*+": "*",
	"++": "+",
	"?+": "?",
	"}+": "}",
}

re2_rewrite(p) := regex.replace(strings.replace_n(pcre_rewrites, p), `\\[1-9]`, "")

# pcre_features names the PCRE-only constructs p uses, for the message.
pcre_features(p) := concat(", ", sort(pcre_markers_in(p) | backreferences_in(p)))

pcre_markers := {
	"(?=": "lookahead (?=",
	"(?!": "negative lookahead (?!",
	"(?<=": "lookbehind (?<=",
	"(?<!": "negative lookbehind (?<!",
	"(?>": "atomic group (?>",
	"*+": "possessive *+",
	"++": "possessive ++",
	"?+": "possessive ?+",
	"}+": "possessive }+",
}

pcre_markers_in(p) := {name | some marker, name in pcre_markers; contains(p, marker)}

backreferences_in(p) := {"backreference" | regex.match(`\\[1-9]`, strings.replace_n({`\\`: "b"}, p))}

pattern_pcre_only(p) if {
	not regex.is_valid(p)
	regex.is_valid(re2_rewrite(p))
}

items contains lib.item("CG110", lib.annotation_field(key), msg) if {
	key := vocab.nginx_header_pattern
	v := annotations[key]
	regex.match(vocab.charset_pattern, v)
	not regex.is_valid(v)
	not pattern_pcre_only(v)
	msg := sprintf(
		"%s %q is not a valid regular expression; ingress-nginx would fail to match it at request time and send those requests to the main route, skipping the cookie and weight rules; fix the expression",
		[short(key), v],
	)
}

items contains lib.item("CG111", lib.annotation_field(key), msg) if {
	key := vocab.nginx_header_pattern
	v := annotations[key]
	regex.match(vocab.charset_pattern, v)
	pattern_pcre_only(v)
	msg := sprintf(
		"%s %q uses PCRE-only features (%s) that Go's RE2 cannot parse, so canarygate cannot check it; ingress-nginx matches with PCRE and sends requests to the main route on a regex runtime error; test it with PCRE or rewrite it without them",
		[short(key), v, pcre_features(v)],
	)
}

# ---------------------------------------------------------------- CG112

# ref: "Canary settings present while canary is not true make the controller
# drop the whole canary group: the Ingress becomes a second main Ingress for
# the same host/path."
items contains lib.item("CG112", lib.annotation_field(vocab.nginx_canary), msg) if {
	not enabled
	present := sort({short(k) | some k in strategy_keys; has(k)})
	count(present) > 0
	msg := sprintf(
		"%s %s set but %s; ingress-nginx then ignores the canary settings and serves this Ingress as a second main route for the same host/path; set %s: \"true\" to make it a canary, or remove the canary settings",
		[concat(", ", present), plural_verb(present), canary_state, vocab.nginx_canary],
	)
}

plural_verb(list) := "is" if count(list) == 1

else := "are"

canary_state := sprintf("%s is not set", [short(vocab.nginx_canary)]) if {
	not has(vocab.nginx_canary)
} else := sprintf("%s is %q, not true", [short(vocab.nginx_canary), annotations[vocab.nginx_canary]])

# ---------------------------------------------------------------- CG113

# ref: "No other canary annotation exists; any other canary-… key is a typo."
# Annotation keys are case-sensitive, so a key that differs only in case is
# a typo too.
items contains lib.item("CG113", lib.annotation_field(key), msg) if {
	some key, _ in annotations
	startswith(lower(key), vocab.nginx_canary)
	not key in known_canary_keys
	msg := sprintf(
		"%q is not an ingress-nginx annotation and would be ignored; did you mean %q?",
		[key, lib.closest(key, vocab.nginx_canary_keys, vocab.nginx_prefix)],
	)
}

# known_canary_keys is a complete rule so the set is built once per query.
known_canary_keys := {k | some k in vocab.nginx_canary_keys}

# ---------------------------------------------------------- CG114, CG115

# ref: "with a non-empty canary-by-header-value: exact … match; else with
# canary-by-header-pattern …" and "Value and pattern both set: the pattern is
# ignored."
items contains lib.item("CG114", lib.annotation_field(vocab.nginx_header_pattern), msg) if {
	non_empty(vocab.nginx_header_value)
	non_empty(vocab.nginx_header_pattern)
	msg := sprintf(
		"%s %q and %s %q are both set; ingress-nginx matches the exact value and ignores the pattern; remove one of them",
		[
			short(vocab.nginx_header_value), annotations[vocab.nginx_header_value],
			short(vocab.nginx_header_pattern), annotations[vocab.nginx_header_pattern],
		],
	)
}

# ref: "Value or pattern without canary-by-header: no effect."
items contains lib.item("CG115", lib.annotation_field(key), msg) if {
	some key in {vocab.nginx_header_value, vocab.nginx_header_pattern}
	non_empty(key)
	not non_empty(vocab.nginx_header)
	msg := sprintf(
		"%s %q has no effect without %s; ingress-nginx ignores it; set %s to the header name (e.g. \"X-Canary\") or remove it",
		[short(key), annotations[key], short(vocab.nginx_header), short(vocab.nginx_header)],
	)
}

# ---------------------------------------------------------------- CG116

# ref: "The Lua looks the header up as the nginx variable $http_<name> with -
# turned into _ … a request that itself sends a name containing _ is dropped
# by nginx unless enable-underscores-in-headers is on (off by default) — an
# underscore in the configured name is confusing rather than wrong: warn."
# A name outside the character set is CG106 (nginx drops it), so the advice
# about "-" is only given for names nginx keeps.
items contains lib.item("CG116", lib.annotation_field(key), msg) if {
	key := vocab.nginx_header
	v := annotations[key]
	contains(v, "_")
	regex.match(vocab.charset_basic, v)
	msg := sprintf(
		"%s %q contains \"_\"; nginx matches \"-\" and \"_\" alike and by default drops request headers whose names contain \"_\", so clients must send %q; write %q",
		[short(key), v, replace(v, "_", "-"), replace(v, "_", "-")],
	)
}
