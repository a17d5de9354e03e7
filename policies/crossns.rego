# The cross-namespace canary check (CG601, on the gate). It judges the same
# route facts as structure.rego and uses its helpers, but lives in its own
# package: the gate evaluates this area alone for an Ingress, not the
# structure area's lint rules, and lint never evaluates this one.
package canarygate.builtin.rules.crossns

import data.canarygate.builtin.lib
import data.canarygate.builtin.rules.structure

# design §4: "ingress-nginx merges canaries by host across namespaces, so a
# canary for a route key whose main route is in another namespace is denied
# unless the canary's namespace allows it (allow_cross_namespace_canary)";
# ref: "Namespaces need not match (keyed on host)." lib.settings is the
# request namespace's settings ("for a canary, its own namespace's data
# governs").
items contains lib.item("CG601", r.field, msg) if {
	structure.canary
	not cross_namespace_allowed
	some r in structure.routes
	mains := structure.list(r, "mains")
	count(mains) > 0
	every m in mains {
		m.namespace != input.request.namespace
	}
	msg := sprintf(
		"route %s: its main route %s is in another namespace; ingress-nginx merges canaries by host across namespaces, so this canary would take traffic of that namespace; create the canary in the main route's namespace, or set allow_cross_namespace_canary: true in the settings of namespace %q",
		[structure.route(r.key), structure.names(mains), input.request.namespace],
	)
}

cross_namespace_allowed if lib.settings.allow_cross_namespace_canary == true
