package canarygate.ext.teamrules

# Every Service must carry an owner label.
items contains {
	"code": "EX001",
	"message": sprintf("Service %s has no team label; add metadata.labels.team", [input.request.name]),
	"field": "metadata.labels.team",
} if {
	input.request.kind.kind == "Service"
	input.request.operation in {"CREATE", "UPDATE"}
	not input.object.metadata.labels.team
}
