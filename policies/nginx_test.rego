package canarygate.builtin.rules.nginx_test

import data.canarygate.builtin.rules.nginx

# ingress is the admission input for a CREATE of the reference scenario's
# canary Ingress (DESIGN §1, step 3) carrying the given annotations.
ingress(annotations) := {
	"request": {
		"operation": "CREATE",
		"kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
		"namespace": "default",
		"name": "gray-release-canary",
		"userInfo": {"username": "alice", "groups": ["system:authenticated"]},
	},
	"object": {
		"apiVersion": "networking.k8s.io/v1",
		"kind": "Ingress",
		"metadata": {"name": "gray-release-canary", "namespace": "default", "annotations": annotations},
		"spec": {
			"ingressClassName": "nginx",
			"rules": [{
				"host": "model.example.com",
				"http": {"paths": [{
					"path": "/",
					"pathType": "ImplementationSpecific",
					"backend": {"service": {"name": "model-v2-svc", "port": {"number": 80}}},
				}]},
			}],
		},
	},
	"oldObject": null,
	"ingress": {"governed": true},
}

items(annotations) := result if {
	result := nginx.items with input as ingress(annotations)
}

codes(annotations) := {i.code | some i in items(annotations)}

# the single item of code in the result, for message and field assertions.
item(annotations, code) := i if {
	found := [i | some i in items(annotations); i.code == code]
	count(found) == 1
	i := found[0]
}

canary := "nginx.ingress.kubernetes.io/canary"

weight := "nginx.ingress.kubernetes.io/canary-weight"

total := "nginx.ingress.kubernetes.io/canary-weight-total"

header := "nginx.ingress.kubernetes.io/canary-by-header"

header_value := "nginx.ingress.kubernetes.io/canary-by-header-value"

header_pattern := "nginx.ingress.kubernetes.io/canary-by-header-pattern"

cookie := "nginx.ingress.kubernetes.io/canary-by-cookie"

# ------------------------------------------------------------ scenario

test_reference_header_canary_is_clean if {
	count(items({canary: "true", header: "foo", header_value: "bar"})) == 0
}

test_reference_weight_canary_is_clean if {
	count(items({canary: "true", weight: "20"})) == 0
}

test_main_ingress_without_canary_annotations_is_clean if {
	count(items({"kubernetes.io/ingress.class": "nginx", "nginx.ingress.kubernetes.io/proxy-body-size": "8m"})) == 0
	count(items({})) == 0
	count(items(null)) == 0
}

test_ungoverned_ingress_is_ignored if {
	x := json.patch(ingress({canary: "yes", weight: "50%"}), [{"op": "replace", "path": "/ingress/governed", "value": false}])
	count(nginx.items) == 0 with input as x
}

test_delete_is_ignored if {
	x := ingress({canary: "yes", weight: "50%"})
	del := object.union(x, {
		"request": object.union(x.request, {"operation": "DELETE"}),
		"object": null,
		"oldObject": x.object,
	})
	count(nginx.items) == 0 with input as del
}

test_other_kinds_are_ignored if {
	x := ingress({canary: "yes"})
	svc := object.union(x, {"request": object.union(x.request, {"kind": {"group": "", "version": "v1", "kind": "Service"}})})
	count(nginx.items) == 0 with input as svc
}

test_update_is_judged_on_the_new_object if {
	x := ingress({canary: "true", weight: "50%"})
	upd := object.union(x, {
		"request": object.union(x.request, {"operation": "UPDATE"}),
		"oldObject": ingress({canary: "true", weight: "20"}).object,
	})
	{i.code | some i in nginx.items with input as upd} == {"CG102"}
}

# ---------------------------------------------------------------- CG101

test_cg101_denies_yes if {
	i := item({canary: "yes"}, "CG101")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary"]`
	startswith(i.message, "Ingress default/gray-release-canary: canary \"yes\" is not a boolean")
	contains(i.message, `write "true" or "false"`)
}

test_cg101_denies_empty_and_padded if {
	"CG101" in codes({canary: ""})
	"CG101" in codes({canary: " true"})
}

test_cg101_accepts_every_parsebool_value if {
	every v in ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"] {
		not "CG101" in codes({canary: v})
	}
}

# ---------------------------------------------------------- CG102, CG103

test_cg102_denies_percent_weight if {
	i := item({canary: "true", weight: "50%"}, "CG102")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]`
	contains(i.message, "would silently use 0 (no traffic to the canary)")
	contains(i.message, `write digits only, e.g. "50"`)
}

test_cg102_denies_decimal_space_and_sign if {
	every v in ["5.5", " 50", "-5", "+5", "abc", ""] {
		"CG102" in codes({canary: "true", weight: v})
	}
}

test_cg102_signed_weight_is_read_as_written if {
	contains(item({canary: "true", weight: "-5"}, "CG102").message, "would read it as -5 (no traffic to the canary)")
	contains(item({canary: "true", weight: "+5"}, "CG102").message, "would read it as 5")
}

test_cg102_accepts_plain_weights if {
	not "CG102" in codes({canary: "true", weight: "0"})
	not "CG102" in codes({canary: "true", weight: "20"})
}

test_cg103_denies_non_integer_total if {
	i := item({canary: "true", weight: "20", total: "1e3"}, "CG103")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight-total"]`
	contains(i.message, "would silently use 100")
}

test_cg103_accepts_plain_total if {
	not "CG103" in codes({canary: "true", weight: "20", total: "1000"})
}

# ---------------------------------------------------------- CG104, CG105

test_cg104_denies_weight_above_default_total if {
	i := item({canary: "true", weight: "150"}, "CG104")
	contains(i.message, "greater than the total 100")
	contains(i.message, "all traffic to the canary")
}

test_cg104_denies_weight_above_declared_total if {
	"CG104" in codes({canary: "true", weight: "250", total: "200"})
}

test_cg104_explains_a_total_below_100 if {
	c := codes({canary: "true", weight: "60", total: "50"})
	{"CG104", "CG105"} & c == {"CG104", "CG105"}
	contains(item({canary: "true", weight: "60", total: "50"}, "CG104").message, "would send 60% of the traffic")
}

test_cg104_accepts_weight_up_to_total if {
	not "CG104" in codes({canary: "true", weight: "100"})
	not "CG104" in codes({canary: "true", weight: "150", total: "200"})
}

test_cg104_needs_both_to_parse if {
	not "CG104" in codes({canary: "true", weight: "150", total: "abc"})
	not "CG104" in codes({canary: "true", weight: "150%"})
}

test_cg105_denies_total_below_100 if {
	i := item({canary: "true", weight: "5", total: "50"}, "CG105")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight-total"]`
	contains(i.message, "treats it as 100")
}

test_cg105_accepts_total_of_100_or_more if {
	not "CG105" in codes({canary: "true", weight: "5", total: "100"})
	not "CG105" in codes({canary: "true", weight: "5", total: "1000"})
}

# ------------------------------------------------------ CG106, CG107, CG108

test_cg106_denies_header_with_equals if {
	i := item({canary: "true", header: "X-Canary=1"}, "CG106")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-by-header"]`
	contains(i.message, `contains "="`)
	contains(i.message, `would silently use ""`)
}

test_cg106_explains_spaces if {
	contains(item({canary: "true", header: "X Canary"}, "CG106").message, "contains spaces")
}

test_cg106_accepts_basic_header if {
	not "CG106" in codes({canary: "true", header: "X-Canary.v2:~/"})
}

test_cg107_denies_value_with_comma_and_star if {
	i := item({canary: "true", header: "foo", header_value: "a,b*"}, "CG107")
	contains(i.message, `contains "*,"`)
	contains(i.message, "always/never")
}

test_cg107_accepts_basic_value if {
	not "CG107" in codes({canary: "true", header: "foo", header_value: "bar"})
}

test_cg108_denies_cookie_with_semicolon if {
	i := item({canary: "true", cookie: "canary;x"}, "CG108")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-by-cookie"]`
	contains(i.message, "no cookie rule")
}

test_cg108_accepts_basic_cookie if {
	not "CG108" in codes({canary: "true", cookie: "canary_user"})
}

# ---------------------------------------------------------------- CG109

test_cg109_denies_pattern_with_space_or_comma if {
	"CG109" in codes({canary: "true", header: "foo", header_pattern: "a b"})
	"CG109" in codes({canary: "true", header: "foo", header_pattern: "a{1,2}"})
}

# Negative lookahead, lookbehind and atomic groups need ! < > and so never
# pass the character set: they are CG109, not CG110 or CG111.
test_cg109_catches_unreachable_pcre_features_first if {
	every p in ["(?!foo)bar", "(?<=foo)bar", "(?<!foo)bar", "(?>foo)"] {
		c := codes({canary: "true", header: "foo", header_pattern: p})
		"CG109" in c
		not "CG110" in c
		not "CG111" in c
	}
}

test_cg109_spaces_drop_the_pattern if {
	i := item({canary: "true", header: "foo", header_pattern: "a b"}, "CG109")
	contains(i.message, `contains " "`)
	contains(i.message, `would silently use ""`)
}

test_cg109_accepts_regex_characters if {
	not "CG109" in codes({canary: "true", header: "foo", header_pattern: `^(v2|v3)[a-z]*\.x+?&=$`})
}

# ---------------------------------------------------------- CG110, CG111

test_cg110_denies_pattern_invalid_in_both if {
	every p in ["(abc", "[a-", "a**", "(?=abc", `a\\1(`] {
		c := codes({canary: "true", header: "foo", header_pattern: p})
		"CG110" in c
		not "CG111" in c
	}
}

test_cg110_accepts_valid_pattern if {
	not "CG110" in codes({canary: "true", header: "foo", header_pattern: "^(foo|bar)$"})
}

test_cg111_warns_on_pcre_only_features if {
	every p in ["(?=v2)v", `(a)\1`, "a++", "a*+", "a?+", "a{2}+"] {
		c := codes({canary: "true", header: "foo", header_pattern: p})
		"CG111" in c
		not "CG110" in c
	}
}

test_cg111_names_the_feature if {
	i := item({canary: "true", header: "foo", header_pattern: `(?=v)(a)\1`}, "CG111")
	contains(i.message, "backreference, lookahead (?=")
}

test_cg111_accepts_re2_pattern if {
	not "CG111" in codes({canary: "true", header: "foo", header_pattern: `^v[0-9]+\\$`})
	not "CG111" in codes({canary: "true", header: "foo", header_pattern: "a+?"})
}

# ---------------------------------------------------------------- CG112

test_cg112_denies_weight_with_canary_yes if {
	c := codes({canary: "yes", weight: "50"})
	"CG101" in c
	"CG112" in c
	i := item({canary: "yes", weight: "50"}, "CG112")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary"]`
	contains(i.message, "second main route for the same host/path")
	contains(i.message, `canary-weight is set but canary is "yes", not true`)
}

test_cg112_denies_strategy_without_canary if {
	i := item({header: "foo", header_value: "bar"}, "CG112")
	contains(i.message, "canary-by-header, canary-by-header-value are set but canary is not set")
}

test_cg112_denies_strategy_with_canary_false if {
	"CG112" in codes({canary: "false", weight: "0"})
	"CG112" in codes({canary: "0", total: "100"})
	"CG112" in codes({canary: "False", cookie: "c"})
	"CG112" in codes({header_pattern: "x"})
}

test_cg112_accepts_enabled_canary if {
	not "CG112" in codes({canary: "true", weight: "20"})
	not "CG112" in codes({canary: "1", cookie: "c"})
	not "CG112" in codes({canary: "false"})
}

# ---------------------------------------------------------------- CG113

test_cg113_denies_typo_and_suggests_closest if {
	i := item({canary: "true", "nginx.ingress.kubernetes.io/canary-wieght": "20"}, "CG113")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-wieght"]`
	contains(i.message, `did you mean "nginx.ingress.kubernetes.io/canary-weight"?`)
}

test_cg113_suggestions if {
	suggestions := {
		"nginx.ingress.kubernetes.io/canary-by-headers": header,
		"nginx.ingress.kubernetes.io/canary-header": header,
		"nginx.ingress.kubernetes.io/canary-header-value": header_value,
		"nginx.ingress.kubernetes.io/canary-by-header-patern": header_pattern,
		"nginx.ingress.kubernetes.io/canary-by-cookie-value": cookie,
		"nginx.ingress.kubernetes.io/canary-weight-totall": total,
		"nginx.ingress.kubernetes.io/Canary-Weight": weight,
		"nginx.ingress.kubernetes.io/canaryy": canary,
	}
	every typo, want in suggestions {
		i := item({canary: "true", typo: "x"}, "CG113")
		endswith(i.message, sprintf("did you mean %q?", [want]))
	}
}

test_cg113_accepts_known_annotations if {
	not "CG113" in codes({
		canary: "true", weight: "20", total: "100", header: "foo",
		header_value: "bar", cookie: "c",
		"nginx.ingress.kubernetes.io/affinity-canary-behavior": "legacy",
		"nginx.ingress.kubernetes.io/proxy-body-size": "8m",
	})
}

# ---------------------------------------------------------- CG114, CG115

test_cg114_warns_value_and_pattern if {
	i := item({canary: "true", header: "foo", header_value: "bar", header_pattern: "^b"}, "CG114")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-by-header-pattern"]`
	contains(i.message, "ignores the pattern")
}

test_cg114_accepts_one_of_them if {
	not "CG114" in codes({canary: "true", header: "foo", header_value: "bar"})
	not "CG114" in codes({canary: "true", header: "foo", header_pattern: "^b"})
	not "CG114" in codes({canary: "true", header: "foo", header_value: "", header_pattern: "^b"})
}

test_cg115_warns_value_without_header if {
	i := item({canary: "true", header_value: "bar"}, "CG115")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-by-header-value"]`
	contains(i.message, "has no effect without canary-by-header")
}

test_cg115_warns_pattern_with_empty_header if {
	"CG115" in codes({canary: "true", header: "", header_pattern: "^b"})
}

test_cg115_accepts_with_header if {
	not "CG115" in codes({canary: "true", header: "foo", header_value: "bar"})
	not "CG115" in codes({canary: "true", header: "foo", header_pattern: "^b"})
}

# ---------------------------------------------------------------- CG116

test_cg116_warns_underscore_in_header if {
	i := item({canary: "true", header: "x_canary"}, "CG116")
	i.field == `metadata.annotations["nginx.ingress.kubernetes.io/canary-by-header"]`
	contains(i.message, `write "x-canary"`)
}

test_cg116_applies_without_canary if {
	"CG116" in codes({header: "x_canary"})
}

test_cg116_accepts_dashes if {
	not "CG116" in codes({canary: "true", header: "X-Canary"})
}

test_cg116_leaves_names_nginx_drops_to_cg106 if {
	c := codes({canary: "true", header: "x_canary=1"})
	"CG106" in c
	not "CG116" in c
}
