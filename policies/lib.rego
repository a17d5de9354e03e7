# Helpers shared by the built-in rules: where the object is, how to name it
# in a message, and how to spell a field path.
package canarygate.builtin.lib

vocab := data.canarygate.builtin.vocab

settings := data.canarygate.builtin.config.settings

# obj is the object the request writes, or on DELETE the object removed.
obj := input.object if input.object != null

else := input.oldObject

default old := null

old := input.oldObject if input.request.operation == "UPDATE"

kind := input.request.kind.kind

writing if input.request.operation in {"CREATE", "UPDATE"}

deleting if input.request.operation == "DELETE"

default annotations := {}

annotations := a if {
	writing
	a := object.get(input.object, ["metadata", "annotations"], {})
	a != null
}

default labels := {}

labels := l if {
	writing
	l := object.get(input.object, ["metadata", "labels"], {})
	l != null
}

default old_annotations := {}

old_annotations := a if {
	old != null
	a := object.get(old, ["metadata", "annotations"], {})
	a != null
}

default old_labels := {}

old_labels := l if {
	old != null
	l := object.get(old, ["metadata", "labels"], {})
	l != null
}

# subject names the object in messages: "Ingress default/gray-release-canary".
subject := sprintf("%s %s/%s", [kind, input.request.namespace, input.request.name]) if input.request.namespace != ""

else := sprintf("%s %s", [kind, input.request.name])

# annotation_field is the field path of an annotation key.
annotation_field(key) := sprintf("metadata.annotations[%q]", [key])

label_field(key) := sprintf("metadata.labels[%q]", [key])

# item builds a decision item.
item(code, field, msg) := {"code": code, "field": field, "message": sprintf("%s: %s", [subject, msg])}

# plain_int reports whether s is a plain non-negative decimal integer that
# fits an int64 (as strconv.Atoi needs), the only form canarygate accepts for
# weights (ingress-nginx's Atoi also takes a sign, which never means what the
# writer intended).
plain_int(s) if regex.match(`^[0-9]{1,18}$`, s)

# rfc3339 reports whether s has the shape Go's time.RFC3339 parses, so rules
# check a timestamp before parsing it and never raise a builtin error on a
# garbage value.
rfc3339(s) if regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`, s)

# outside returns the characters of v that the single-character charset
# regex rejects, sorted and deduplicated, for messages.
outside(charset, v) := concat("", sort({c | some c in split(v, ""); not regex.match(charset, c)}))

# closest returns the candidate most similar to key, both compared without
# prefix and case-insensitively. OPA has no edit-distance builtin, so the
# similarity is the Sørensen–Dice coefficient of the sets of character
# bigrams, which rates a transposition, a missing, extra or wrong letter and
# a missing word ("canary-header" → "canary-by-header") all highly. Ties go
# to the lexically smallest candidate, so the suggestion is stable.
closest(key, candidates, prefix) := best if {
	k := lower(trim_prefix(key, prefix))
	scored := {[s, c] |
		some c in candidates
		s := similarity(k, lower(trim_prefix(c, prefix)))
	}
	top := max({s | some [s, _] in scored})
	best := min({c | some [s, c] in scored; s == top})
}

similarity(a, b) := (2 * count(bigrams(a) & bigrams(b))) / n if {
	n := count(bigrams(a)) + count(bigrams(b))
	n > 0
} else := 0

bigrams(s) := {substring(s, i, 2) | some i in numbers.range(0, count(s) - 2)} if {
	count(s) >= 2
} else := {s}
