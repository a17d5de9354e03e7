# Deletion guards (DESIGN §4): removing an object that traffic still flows
# through is denied, except for the controller-manager's own deletions and
# anything in a terminating namespace.
package canarygate.builtin.rules.deletion

import data.canarygate.builtin.lib

# Controller-manager identities whose deletions are never blocked (garbage
# collection and namespace cleanup must always finish).
controller_identities := {
	"system:kube-controller-manager",
	"system:serviceaccount:kube-system:generic-garbage-collector",
	"system:serviceaccount:kube-system:namespace-controller",
}

exempt if input.request.userInfo.username in controller_identities

exempt if input.namespace.phase == "Terminating"

guarded if {
	lib.deleting
	not exempt
}

# CG501: an InferenceService a Service still selects.
items contains lib.item("CG501", "", msg) if {
	guarded
	lib.kind == "InferenceService"
	svcs := [s.name | some s in input.deletion.selectingServices; not s.owned]
	count(svcs) > 0
	msg := sprintf("cannot delete: Service(s) %s still select it and would lose their endpoints; switch them to another InferenceService (or delete them) first", [concat(", ", svcs)])
}

# CG502: a Service an Ingress still routes to.
items contains lib.item("CG502", "", msg) if {
	guarded
	lib.kind == "Service"
	ings := [sprintf("%s/%s", [i.namespace, i.name]) | some i in input.deletion.routingIngresses]
	count(ings) > 0
	msg := sprintf("cannot delete: Ingress(es) %s still route to it; remove it from them (or delete them) first", [concat(", ", ings)])
}

# CG503: a main route while a canary route for its key exists; deleting and
# recreating the main route would otherwise turn a switch into a "first
# deployment".
items contains lib.item("CG503", "", msg) if {
	guarded
	lib.kind == "Ingress"
	ings := {sprintf("%s/%s", [i.namespace, i.name]) | some i in input.deletion.canaries}
	count(ings) > 0
	msg := sprintf("cannot delete this main route while canary Ingress(es) %s exist for it; delete the canary first", [concat(", ", sort(ings))])
}

# CG503 also covers an UPDATE that takes a route key away from a main route
# (moving its host or path, or turning it into a canary) while a canary for
# that key remains: otherwise "move the main away, then promote the canary"
# would turn a switch into a first deployment without any delete.
items contains lib.item("CG503", "spec.rules", msg) if {
	lib.writing
	lib.kind == "Ingress"
	not exempt
	some a in object.get(input, ["ingress", "abandoned"], [])
	ings := {sprintf("%s/%s", [i.namespace, i.name]) | some i in a.canaries}
	count(ings) > 0
	msg := sprintf("this update takes route %s %s%s (%s) away from the main route while canary Ingress(es) %s exist for it; delete the canary first", [
		a.key.class, a.key.host, a.key.path, a.key.pathType, concat(", ", sort(ings)),
	])
}

