package canarygate.builtin.config_test

import data.canarygate.builtin.config

test_defaults_apply if {
	config.settings.max_unverified_weight == 50
	config.enforcement("CG301") == "deny"
	config.enforcement("CG111") == "warn"
}

test_unknown_code_is_denied if {
	config.enforcement("CG999") == "deny"
}

test_platform_settings_merge_key_by_key if {
	s := config.settings with data.canarygate.config as {"settings": {"max_unverified_weight": 10}}
	s.max_unverified_weight == 10
	s.max_weight_step == 100
}

test_profile_overrides_global if {
	s := config.settings with data.canarygate.config as {
		"settings": {"max_unverified_weight": 10},
		"profiles": {"prod": {"settings": {"max_unverified_weight": 5}}},
	}
		with input.namespace.labels as {"canarygate.io/profile": "prod"}
	s.max_unverified_weight == 5
}

test_enforcement_override if {
	config.enforcement("CG301") == "warn" with data.canarygate.config as {"enforcement": {"CG301": "warn"}}
}
