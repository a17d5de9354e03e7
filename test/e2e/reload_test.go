//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

// teamRule denies Services carrying the label given, with code EX100.
func teamRule(label string) string {
	return `package canarygate.ext.team

items contains {
	"code": "EX100",
	"endpoint": "gate",
	"message": "Services labelled ` + label + ` are not allowed here; remove the label",
} if {
	input.request.kind.kind == "Service"
	input.request.operation in {"CREATE", "UPDATE"}
	input.object.metadata.labels["` + label + `"]
}
`
}

func labelledService(name, label string) string {
	return `apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
  labels:
    ` + label + `: "yes"
spec:
  selector:
    serving.kserve.io/inferenceservice: model-v1
  ports:
  - port: 80
    targetPort: 8080
`
}

var _ = Describe("a platform policy directory loaded by canarygate serve", Serial, func() {
	It("changes decisions when the directory changes, and keeps the last good set on a broken update", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		rule := filepath.Join(dir, "team.rego")
		Expect(os.WriteFile(rule, []byte(teamRule("team-a")), 0o600)).To(Succeed())

		live := ownControlPlane(ctx, harness.Options{ServeArgs: []string{"--policy", dir}})

		r := live.Run(ctx, labelledService("svc-a", "team-a"), "apply", "-f", "-")
		Expect(r.Code).NotTo(Equal(0))
		Expect(r.Stderr).To(ContainSubstring("[EX100] Services labelled team-a are not allowed here"))
		Expect(live.Run(ctx, labelledService("svc-b", "team-b"), "apply", "-f", "-").Code).To(Equal(0))

		By("replacing the rule in place: no restart")
		Expect(os.WriteFile(rule, []byte(teamRule("team-c")), 0o600)).To(Succeed())
		Eventually(func(g Gomega) {
			r := live.Run(ctx, labelledService("svc-c", "team-c"), "apply", "-f", "-", "--dry-run=server")
			g.Expect(r.Stderr).To(ContainSubstring("[EX100] Services labelled team-c"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(live.Run(ctx, labelledService("svc-a", "team-a"), "apply", "-f", "-").Code).To(Equal(0))

		By("a broken update is rejected and the last good set keeps deciding")
		Expect(os.WriteFile(rule, []byte("package canarygate.ext.team\n\nitems contains {"), 0o600)).To(Succeed())
		Consistently(func(g Gomega) {
			r := live.Run(ctx, labelledService("svc-c", "team-c"), "apply", "-f", "-", "--dry-run=server")
			g.Expect(r.Stderr).To(ContainSubstring("[EX100] Services labelled team-c"))
		}).WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())
	}, NodeTimeout(5*time.Minute))
})
