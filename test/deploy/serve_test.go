package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// server is `canarygate serve` running on this machine.
type server struct {
	cmd   *exec.Cmd
	port  int
	ready string
	// exited is closed once the process has exited, with waitErr set.
	exited  chan struct{}
	waitErr error
}

// localFlags are the server flags that name this machine rather than the
// pod: the test sets them. --leader-elect is dropped because
// controller-runtime elects in the namespace of the pod's ServiceAccount
// token, which a process outside a pod does not have and serve has no flag
// for (the leader-election Role is checked with `kubectl auth can-i`).
var localFlags = []string{"kubeconfig", "cert-dir", "port", "health-probe-bind-address", "metrics-bind-address", "leader-elect", "shutdown-delay"}

// localArgs turns the rendered Deployment's `serve …` command line into one
// for this machine: every rendered flag is kept (so a flag the binary does
// not know fails here), except localFlags, which are replaced.
func localArgs(rendered []string, kubeconfig, certDir string, port, probe, metrics int) []string {
	out := []string{rendered[0]}
	for i := 1; i < len(rendered); i++ {
		a := rendered[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") || !slices.Contains(localFlags, name) {
			out = append(out, a)
			continue
		}
		if !hasValue && name != "leader-elect" && i+1 < len(rendered) {
			i++ // --flag value (--leader-elect is the one boolean among localFlags)
		}
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metrics)
	if v, _ := flagValue(rendered, "metrics-bind-address"); v == "0" {
		metricsAddr = "0"
	}
	return append(out,
		"--kubeconfig="+kubeconfig,
		"--cert-dir="+certDir,
		"--port="+strconv.Itoa(port),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
		"--metrics-bind-address="+metricsAddr,
		"--shutdown-delay=1s",
	)
}

// mountConfigMaps plays the kubelet for the server's ConfigMap volumes (the
// chart's policy data): it writes each rendered ConfigMap mounted into the
// container under dir, as the kubelet lays it out (every key, or the
// volume's items), and returns args with each mount path replaced by its
// local copy. It returns an error for a mount it cannot provide (a
// ConfigMap the rendering does not create, or another kind of volume
// besides the serving certificate).
func mountConfigMaps(in *install, args []string, dir string) ([]string, error) {
	out := slices.Clone(args)
	spec := in.deployment.Spec.Template.Spec
	for i, m := range in.container.VolumeMounts {
		if m.MountPath == in.certDir {
			continue
		}
		var cm *corev1.ConfigMapVolumeSource
		for _, v := range spec.Volumes {
			if v.Name == m.Name {
				cm = v.ConfigMap
			}
		}
		if cm == nil {
			return nil, fmt.Errorf("volume %s (mounted at %s) is not a ConfigMap: the test cannot provide it", m.Name, m.MountPath)
		}
		src, ok := in.configMaps[in.namespace+"/"+cm.Name]
		if !ok {
			return nil, fmt.Errorf("ConfigMap %s (mounted at %s) is not rendered: the test cannot provide it", cm.Name, m.MountPath)
		}
		local := filepath.Join(dir, fmt.Sprintf("mount-%d", i))
		files := map[string]string{}
		for k, v := range src.Data {
			files[k] = v
		}
		if len(cm.Items) > 0 {
			files = map[string]string{}
			for _, it := range cm.Items {
				files[it.Path] = src.Data[it.Key]
			}
		}
		for name, content := range files {
			path := filepath.Join(local, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				return nil, err
			}
		}
		for j, a := range out {
			name, value, ok := strings.Cut(a, "=")
			if ok && (value == m.MountPath || strings.HasPrefix(value, m.MountPath+"/")) {
				out[j] = name + "=" + local + strings.TrimPrefix(value, m.MountPath)
			}
		}
	}
	return out, nil
}

// startServe starts the canarygate binary with args and waits until its
// /readyz answers 200. The process logs to log.
func startServe(ctx context.Context, rendered []string, kubeconfig, certDir string, log io.Writer) (*server, error) {
	s := &server{port: freePort(), exited: make(chan struct{})}
	probe := freePort()
	s.ready = fmt.Sprintf("http://127.0.0.1:%d/readyz", probe)
	args := localArgs(rendered, kubeconfig, certDir, s.port, probe, freePort())
	_, _ = fmt.Fprintf(log, "$ canarygate %s\n", strings.Join(args, " "))
	s.cmd = exec.Command(tools.canarygate, args...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting canarygate serve: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		select {
		case <-s.exited:
			s.cmd = nil
			err := s.waitErr
			if err == nil {
				err = errors.New("exit status 0")
			}
			return nil, fmt.Errorf("canarygate serve %s exited before it was ready: %w", strings.Join(args, " "), err)
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("canarygate serve not ready at %s (last answer: %s): %w", s.ready, last, ctx.Err())
		case <-tick.C:
			resp, err := http.Get(s.ready + "?verbose")
			if err != nil {
				last = err.Error()
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
	}
}

// url is the address of one of the server's webhook paths.
func (s *server) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", s.port, path)
}

// stop sends SIGTERM to the server's process group, then SIGKILL after 10 s.
func (s *server) stop() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}

// freePort returns a free TCP port on the loopback interface.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
