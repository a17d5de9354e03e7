package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchRow is one benchmark's results, one value per -count run.
type benchRow struct {
	Name    string
	Metrics map[string][]float64 // unit → values
}

func (r benchRow) median(unit string) float64 { return median(r.Metrics[unit]) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// runGoBench runs `go test -bench` in dir and parses every metric of every
// benchmark line; the command is returned for the report.
func runGoBench(dir, pattern string, count int, benchtime string) ([]benchRow, string, error) {
	args := []string{"test", "-run=^$", "-bench=" + pattern, "-benchmem", "-count=" + strconv.Itoa(count), "-benchtime=" + benchtime, "./pkg/validate/"}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	command := "go " + strings.Join(args, " ")
	if err := cmd.Run(); err != nil {
		return nil, command, fmt.Errorf("%s: %w\n%s", command, err, out.String())
	}
	var rows []benchRow
	index := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(m[1], "Benchmark"), "_", " ")
		i, ok := index[name]
		if !ok {
			i = len(rows)
			index[name] = i
			rows = append(rows, benchRow{Name: name, Metrics: map[string][]float64{}})
		}
		f := strings.Fields(m[3])
		for j := 0; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err == nil {
				rows[i].Metrics[f[j+1]] = append(rows[i].Metrics[f[j+1]], v)
			}
		}
	}
	return rows, command, nil
}
