# Effective policy settings for the request's namespace: the built-in
# defaults, merged key by key with the platform's global settings, then with
# the settings of the namespace's profile (selected by the namespace label
# canarygate.io/profile).
package canarygate.builtin.config

vocab := data.canarygate.builtin.vocab

# Referencing data.canarygate.config by name (never through data or
# data.canarygate as a whole) keeps the rule from depending on itself.
platform := p if {
	p := data.canarygate.config
} else := {}

default profile_name := ""

profile_name := input.namespace.labels[vocab.profile]

profile := object.get(platform, ["profiles", profile_name], {})

settings := object.union_n([
	data.canarygate.builtin.defaults.settings,
	object.get(platform, "settings", {}),
	object.get(profile, "settings", {}),
])

overrides := object.union(
	object.get(platform, "enforcement", {}),
	object.get(profile, "enforcement", {}),
)

# enforcement of a code: a platform or profile override, else the code's
# documented default, else deny (an unknown code is never silently dropped).
enforcement(code) := e if {
	e := overrides[code]
} else := e if {
	e := data.canarygate.builtin.codes[code].enforcement
} else := "deny"
