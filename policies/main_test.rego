package canarygate.builtin.main_test

import data.canarygate.builtin.main

# The reference-scenario fixtures of the gate tests (step 4, the switch).
import data.canarygate.builtin.rules.gate_test as fx

# ------------------------------------------------------------- fixtures

# switch_unverified: alice switches model-svc to model-v2, which is not verified.
switch_unverified := fx.switch_doc(fx.v2_unverified)

reason := {"canarygate.io/override-reason": "INC-4711: model-v1 is down"}

forged := {
	"key": "canarygate.io/previous-isvc",
	"field": `metadata.annotations["canarygate.io/previous-isvc"]`,
	"written": true, "time": false, "value": "model-v1",
	"old": "", "oldPresent": false,
	"actual": "model-v0", "present": true,
}

# break_glass: root (system:masters) sets a new override reason on the switch
# and forges a rollback stamp.
break_glass(old_ann) := object.union(
	fx.override_doc(old_ann, reason, ["system:masters", "system:authenticated"]),
	{"stamps": [forged]},
)

decision(doc) := d if {
	d := main.decision with input as doc
}

with_code(d, code) := [i | some i in d; i.code == code]

# the single decision item of code.
only(d, code) := i if {
	found := with_code(d, code)
	count(found) == 1
	i := found[0]
}

# ------------------------------------------------------------- shape

test_every_item_has_endpoint_and_enforcement if {
	doc := object.union(break_glass({}), {"errors": ["reading Namespace default: forbidden"]})
	d := decision(doc)
	count(d) >= 4
	every i in d {
		i.endpoint in {"gate", "lint"}
		i.enforcement in {"deny", "warn", "dryrun"}
		is_string(i.code)
		is_string(i.message)
		is_string(i.origin)
	}
}

test_builtin_items_carry_their_documented_endpoint if {
	i := only(decision(switch_unverified), "CG301")
	i.endpoint == "gate"
	i.enforcement == "deny"
	i.origin == "builtin"
	i.field == "spec.selector"
	startswith(i.message, "Service default/model-svc: ")
}

test_allowed_switch_has_no_items if {
	count(decision(fx.switch_doc(fx.v2))) == 0
}

# ------------------------------------------------------------- enforcement data

test_enforcement_override_is_reflected if {
	doc := fx.exposure_doc(fx.spec(60, 100), null, fx.v2_unverified)
	only(decision(doc), "CG302").enforcement == "deny"
	d := main.decision with input as doc with data.canarygate.config as {"enforcement": {"CG302": "dryrun"}}
	i := only(d, "CG302")
	i.enforcement == "dryrun"
	not startswith(i.message, "overridden: ")
}

test_profile_enforcement_override_is_reflected if {
	doc := object.union(fx.exposure_doc(fx.spec(60, 100), null, fx.v2_unverified), {"namespace": {"labels": {"canarygate.io/profile": "staging"}}})
	d := main.decision with input as doc
		with data.canarygate.config as {"profiles": {"staging": {"enforcement": {"CG302": "warn"}}}}
	only(d, "CG302").enforcement == "warn"
}

# ------------------------------------------------------------- break-glass

test_override_turns_gate_denials_into_warnings if {
	d := decision(break_glass({}))
	i := only(d, "CG301")
	i.enforcement == "warn"
	startswith(i.message, "overridden: Service default/model-svc: ")
	o := only(d, "CG306")
	o.enforcement == "warn"
	not startswith(o.message, "overridden: ")
}

test_override_never_covers_stamps if {
	i := only(decision(break_glass({})), "CG401")
	i.enforcement == "deny"
	not startswith(i.message, "overridden: ")
}

test_override_with_the_same_reason_as_before_is_not_honoured if {
	d := decision(break_glass(reason))
	only(d, "CG301").enforcement == "deny"
	count(with_code(d, "CG306")) == 0
}

test_override_outside_override_groups_is_not_honoured if {
	doc := object.union(break_glass({}), {"request": {"userInfo": {"groups": ["system:authenticated"]}}})
	d := decision(doc)
	only(d, "CG301").enforcement == "deny"
	count(with_code(d, "CG306")) == 0
}

test_override_keeps_dryrun_and_warn_codes_as_they_are if {
	doc := object.union(fx.exposure_doc(fx.spec(60, 100), null, fx.v2_unverified), {
		"request": {"userInfo": {"username": "root", "groups": ["system:masters"]}},
		"object": {"metadata": {"annotations": reason}},
	})
	d := main.decision with input as doc with data.canarygate.config as {"enforcement": {"CG302": "dryrun"}}
	only(d, "CG302").enforcement == "dryrun"
	only(d, "CG306").enforcement == "warn"
}

# ------------------------------------------------------------- platform rules

ext_items := [
	{"code": "ACME001", "message": "Service default/model-svc: needs a change ticket", "field": "metadata.annotations"},
	{"code": "ACME002", "message": "Service default/model-svc: team label missing", "field": "metadata.labels", "endpoint": "lint"},
]

test_ext_items_default_to_the_gate if {
	d := main.decision with input as fx.switch_doc(fx.v2) with data.canarygate.ext.testonly.items as ext_items
	i := only(d, "ACME001")
	i.endpoint == "gate"
	i.origin == "ext/testonly"
	i.enforcement == "deny"
	i.field == "metadata.annotations"
}

test_ext_items_may_name_their_endpoint if {
	d := main.decision with input as fx.switch_doc(fx.v2) with data.canarygate.ext.testonly.items as ext_items
	i := only(d, "ACME002")
	i.endpoint == "lint"
	i.origin == "ext/testonly"
}

test_ext_enforcement_comes_from_config if {
	d := main.decision with input as fx.switch_doc(fx.v2)
		with data.canarygate.ext.testonly.items as ext_items
		with data.canarygate.config as {"enforcement": {"ACME001": "warn"}}
	only(d, "ACME001").enforcement == "warn"
}

test_override_covers_ext_gate_items_only if {
	d := main.decision with input as break_glass({}) with data.canarygate.ext.testonly.items as ext_items
	gate_item := only(d, "ACME001")
	gate_item.enforcement == "warn"
	startswith(gate_item.message, "overridden: ")
	only(d, "ACME002").enforcement == "deny"
}

test_override_cannot_override_its_own_denial if {
	# a platform forbids break-glass by enforcing CG306 as deny
	d := main.decision with input as break_glass({})
		with data.canarygate.config as {"enforcement": {"CG306": "deny"}}
	o := only(d, "CG306")
	o.enforcement == "deny"
	not startswith(o.message, "overridden: ")
}
