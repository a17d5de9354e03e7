# Stamps (DESIGN §2) are written only by the mutating webhook. The gate
# re-checks each one: it must be the old object's value, or exactly what the
# mutation writes when its write condition holds. So no stamp can be forged,
# even when the mutating call was skipped.
package canarygate.builtin.rules.stamps

import data.canarygate.builtin.lib

stamp_ok(e) if {
	e.present == e.oldPresent
	e.actual == e.old
}

stamp_ok(e) if {
	e.written
	e.present
	not e.time
	e.actual == e.value
}

stamp_ok(e) if {
	e.written
	e.present
	e.time
	lib.rfc3339(e.actual)
	t := time.parse_rfc3339_ns(e.actual)
	abs(input.now_ns - t) <= lib.settings.stamp_time_tolerance_seconds * 1000000000
}


expected(e) := sprintf("%q (or the old value)", [e.value]) if {
	e.written
	not e.time
}

expected(e) := "the current time (or the old value)" if {
	e.written
	e.time
}

expected(e) := sprintf("the old value %q", [e.old]) if {
	not e.written
	e.oldPresent
}

expected(e) := "no value" if {
	not e.written
	not e.oldPresent
}

items contains lib.item("CG401", e.field, msg) if {
	lib.writing
	some e in input.stamps
	not stamp_ok(e)
	msg := sprintf("%s is written only by canarygate; the request sets %q where %s is expected; remove it from the manifest (or copy the live value)", [
		e.key, e.actual, expected(e),
	])
}
