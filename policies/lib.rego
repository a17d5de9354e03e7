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

# plain_int reports whether s is a plain non-negative decimal integer, the
# only form canarygate accepts for weights (ingress-nginx's Atoi also takes a
# sign, which never means what the writer intended).
plain_int(s) if regex.match(`^[0-9]+$`, s)
