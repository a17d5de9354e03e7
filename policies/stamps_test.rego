package canarygate.builtin.rules.stamps_test

import data.canarygate.builtin.rules.stamps

# ------------------------------------------------------------- fixtures
#
# Inputs shaped like pkg/validate Input with stamps as pkg/mutate Expectation:
# alice verifies model-v2 (canarygate.io/verified absent → "true"), so the
# verification stamps' write condition holds.

now := "2026-03-01T12:00:00Z"

now_ns := time.parse_rfc3339_ns(now)

seconds_ago(n) := time.format([now_ns - (n * 1000000000), "UTC", "2006-01-02T15:04:05Z07:00"])

field(key) := sprintf("metadata.annotations[%q]", [key])

# expectation builds one Expectation; old/actual null mean absent.
expectation(key, written, is_time, value, old, actual) := {
	"key": key,
	"field": field(key),
	"written": written,
	"time": is_time,
	"value": value,
	"old": present_value(old),
	"oldPresent": old != null,
	"actual": present_value(actual),
	"present": actual != null,
}

present_value(v) := "" if v == null

else := v

doc(op, exps) := {
	"version": "v1",
	"request": {
		"uid": "0b5e6f3c-0000-4000-8000-000000000002", "operation": op,
		"kind": {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
		"namespace": "default", "name": "model-v2", "dryRun": false,
		"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
	},
	"object": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "model-v2", "namespace": "default"}},
	"oldObject": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "model-v2", "namespace": "default"}},
	"now": now,
	"now_ns": now_ns,
	"namespace": {"name": "default", "labels": {}, "phase": "Active"},
	"switches": [], "exposures": [], "targets": {}, "errors": [],
	"stamps": exps,
}

items(exps) := r if {
	r := stamps.items with input as doc("UPDATE", exps)
}

codes(its) := {i.code | some i in its}

only(its, code) := i if {
	found := [i | some i in its; i.code == code]
	count(found) == 1
	i := found[0]
}

by := "canarygate.io/verified-by"

at := "canarygate.io/verified-at"

gen := "canarygate.io/verified-generation"

since := "canarygate.io/canary-since"

source := "canarygate.io/source"

# ------------------------------------------------------------- value stamps

test_cg401_old_value_kept_is_ok if {
	count(items([
		expectation(by, false, false, "alice", "bob", "bob"),
		expectation(gen, false, false, "3", "2", "2"),
		expectation(source, false, false, "", null, null),
	])) == 0
}

test_cg401_written_value_is_ok if {
	count(items([
		expectation(by, true, false, "alice", null, "alice"),
		expectation(gen, true, false, "2", null, "2"),
	])) == 0
}

test_cg401_written_value_replacing_the_old_is_ok if {
	# re-verification: the old stamps are overwritten by what canarygate writes
	count(items([expectation(by, true, false, "alice", "bob", "alice")])) == 0
}

test_cg401_old_value_kept_while_written_is_ok if {
	# mutation skipped: the old stamp stays, the gate then sees a stale verification
	count(items([expectation(gen, true, false, "3", "2", "2")])) == 0
}

test_cg401_forged_value_is_denied if {
	i := only(items([expectation(by, false, false, "alice", "bob", "carol")]), "CG401")
	i.field == `metadata.annotations["canarygate.io/verified-by"]`
	contains(i.message, "InferenceService default/model-v2: canarygate.io/verified-by is written only by canarygate")
	contains(i.message, `the request sets "carol" where the old value "bob" is expected`)
}

test_cg401_forged_value_without_old_is_denied if {
	i := only(items([expectation(gen, false, false, "", null, "7")]), "CG401")
	contains(i.message, `sets "7" where no value is expected`)
}

test_cg401_value_other_than_written_is_denied if {
	# alice verifies but the request claims bob did
	i := only(items([expectation(by, true, false, "alice", null, "bob")]), "CG401")
	contains(i.message, `where "alice" (or the old value) is expected`)
}

test_cg401_removed_stamp_is_denied if {
	codes(items([expectation(by, false, false, "", "bob", null)])) == {"CG401"}
}

test_cg401_every_forged_stamp_is_reported if {
	its := items([
		expectation(by, false, false, "", "bob", "carol"),
		expectation(gen, false, false, "", "2", "3"),
		expectation(source, false, false, "", null, null),
	])
	count(its) == 2
}

test_cg401_not_on_delete if {
	its := stamps.items with input as doc("DELETE", [expectation(by, false, false, "", "bob", "carol")])
	count(its) == 0
}

# ------------------------------------------------------------- time stamps

test_cg401_time_within_tolerance_is_ok if {
	count(items([expectation(at, true, true, "", null, seconds_ago(30))])) == 0
	count(items([expectation(at, true, true, "", null, seconds_ago(-30))])) == 0
	count(items([expectation(since, true, true, "", null, now)])) == 0
}

test_cg401_time_with_fraction_and_offset_is_ok if {
	count(items([expectation(at, true, true, "", null, "2026-03-01T13:00:10.25+01:00")])) == 0
}

test_cg401_time_two_hours_off_is_denied if {
	i := only(items([expectation(at, true, true, "", null, seconds_ago(7200))]), "CG401")
	contains(i.message, "where the current time (or the old value) is expected")
	codes(items([expectation(at, true, true, "", null, seconds_ago(-7200))])) == {"CG401"}
}

test_cg401_unparsable_time_is_denied if {
	codes(items([expectation(at, true, true, "", null, "now")])) == {"CG401"}
	codes(items([expectation(at, true, true, "", null, "2026-03-01 12:00:00")])) == {"CG401"}
	codes(items([expectation(at, true, true, "", null, "")])) == {"CG401"}
}

test_cg401_time_not_written_must_keep_old if {
	old := seconds_ago(86400)
	count(items([expectation(since, false, true, "", old, old)])) == 0
	codes(items([expectation(since, false, true, "", old, seconds_ago(10))])) == {"CG401"}
}

test_cg401_time_tolerance_comes_from_policy_data if {
	exps := [expectation(at, true, true, "", null, seconds_ago(7200))]
	its := stamps.items with input as doc("UPDATE", exps)
		with data.canarygate.config as {"settings": {"stamp_time_tolerance_seconds": 10800}}
	count(its) == 0
}
