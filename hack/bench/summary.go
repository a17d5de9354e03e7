package main

import (
	"fmt"
	"strings"
	"time"
)

// verdict is one budget of issue 6 and what this run measured against it.
type verdict struct {
	Item, Budget, Measured string
	Met                    bool
	Known                  bool // false: not measured in this run
}

// verdicts judges every budget from the results, so the summary can never
// disagree with the tables below it.
func (r *results) verdicts() []verdict {
	var out []verdict
	add := func(item, budget, measured string, met bool) {
		out = append(out, verdict{Item: item, Budget: budget, Measured: measured, Met: met, Known: true})
	}
	missing := func(item, budget string) {
		out = append(out, verdict{Item: item, Budget: budget, Measured: "not measured in this run"})
	}

	if len(r.Decision) > 0 {
		var worst float64
		var parts []string
		for _, row := range r.Decision {
			p99 := row.median("p99-µs")
			worst = max(worst, p99)
			parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(row.Name, "Decision/"), us(p99)))
		}
		add("1. decision pipeline", "p99 ≤ 100 µs", "p99 "+strings.Join(parts, ", "), worst <= 100)
	} else {
		missing("1. decision pipeline", "p99 ≤ 100 µs")
	}

	if cg, ok := r.median("canarygate", 1000); ok {
		add("2. HTTPS at 1,000/s", "p99 ≤ 1.5 ms, no errors", fmt.Sprintf("p99 %s, %d errors", ms(cg.P99), cg.Errors), cg.P99 <= 1500*time.Microsecond && cg.Errors == 0)
	} else {
		missing("2. HTTPS at 1,000/s", "p99 ≤ 1.5 ms, no errors")
	}
	if cg, ok := r.median("canarygate", 2000); ok {
		add("2. HTTPS at 2,000/s", "p99 ≤ 5 ms, no errors", fmt.Sprintf("p99 %s, %d errors", ms(cg.P99), cg.Errors), cg.P99 <= 5*time.Millisecond && cg.Errors == 0)
	} else {
		missing("2. HTTPS at 2,000/s", "p99 ≤ 5 ms, no errors")
	}
	cg, cok := r.median("canarygate", 1000)
	op, ook := r.median("opa", 1000)
	if cok && ook && op.P99 > 0 && op.ServerCPU > 0 {
		add("3. against bare OPA (1,000/s)", "at least as fast: p99 and CPU per request ≤ OPA's",
			fmt.Sprintf("p99 %s vs %s (%s); CPU/request %s vs %s (%s)", ms(cg.P99), ms(op.P99), ratio(float64(cg.P99), float64(op.P99)),
				usd(cg.ServerCPU), usd(op.ServerCPU), ratio(float64(cg.ServerCPU), float64(op.ServerCPU))),
			cg.P99 <= op.P99 && cg.ServerCPU <= op.ServerCPU)
	} else {
		missing("3. against bare OPA (1,000/s)", "at least as fast")
	}
	c, o := r.Highest["canarygate"], r.Highest["opa"]
	if _, ok := r.Highest["opa"]; ok {
		add("3. highest sustainable rate", "canarygate ≥ OPA", fmt.Sprintf("%s vs %s", rateText(c), rateText(o)), c >= o && c > 0)
	}

	if len(r.API) > 0 {
		added := map[string]apiRow{}
		for _, row := range r.API {
			added[row.Config+"/"+row.Op] = row
		}
		var parts []string
		met := true
		for _, op := range []string{apiOpCreate, apiOpUpdate, apiOpSwitch} {
			row := added[apiCfgCanarygate+"/"+op]
			part := fmt.Sprintf("%s %s / %s", op, signedMS(row.Added50), signedMS(row.Added99))
			if gk, ok := added[apiCfgGatekeeper+"/"+op]; ok {
				part += fmt.Sprintf(" (Gatekeeper %s / %s)", signedMS(gk.Added50), signedMS(gk.Added99))
			}
			parts = append(parts, part)
			met = met && row.Added50 <= time.Millisecond && row.Added99 <= 3*time.Millisecond
		}
		add("4. through the API server", "canarygate adds ≤ 1 ms p50 and ≤ 3 ms p99 (about half of Gatekeeper's)", "added p50 / p99: "+strings.Join(parts, "; "), met)
	} else {
		missing("4. through the API server", "adds ≤ 1 ms p50, ≤ 3 ms p99")
	}

	var large *serveRow
	for i := range r.Serve {
		if strings.HasPrefix(r.Serve[i].Cluster, "10,000") {
			large = &r.Serve[i]
		}
	}
	if large != nil {
		add("5. serve on the large cluster", "≤ 150 MiB RSS, ready ≤ 10 s", fmt.Sprintf("%.1f MiB, ready in %.2f s", float64(large.RSS)/(1<<20), large.Ready.Seconds()),
			large.RSS <= 150<<20 && large.Ready <= 10*time.Second)
	} else {
		missing("5. serve on the large cluster", "≤ 150 MiB RSS, ready ≤ 10 s")
	}
	var check *checkRow
	for i := range r.Check {
		if r.Check[i].Objects == 10000 && (check == nil || r.Check[i].Wall < check.Wall) {
			check = &r.Check[i]
		}
	}
	if check != nil {
		add("6. check, 10,000 objects", "≤ 10 s", fmt.Sprintf("%.2f s, peak RSS %.1f MiB, exit %d", check.Wall.Seconds(), float64(check.MaxRSS)/(1<<20), check.Exit), check.Wall <= 10*time.Second)
	} else {
		missing("6. check, 10,000 objects", "≤ 10 s")
	}
	return out
}

func rateText(v int) string {
	if v <= 0 {
		return "below the lowest rate probed"
	}
	return fmt.Sprintf("%d/s", v)
}

// writeSummary renders the verdicts as the report's first table.
func (r *results) writeSummary(p func(string, ...any)) {
	p("## Summary\n\n| budget (issue 6) | target | measured in this run | verdict |\n| --- | --- | --- | --- |\n")
	for _, v := range r.verdicts() {
		mark := "—"
		switch {
		case v.Known && v.Met:
			mark = "met"
		case v.Known:
			mark = "**missed**"
		}
		p("| %s | %s | %s | %s |\n", v.Item, v.Budget, v.Measured, mark)
	}
	p("\nWhere a budget is missed, the section below it says where the time goes (stage timings, serve's CPU profile per request); the history at the end records what was changed and measured.\n\n")
}
