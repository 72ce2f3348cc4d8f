package main

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
)

// The deployment files cannot be run here (no container runtime, no
// systemd as init); these tests hold them to what the README promises.

// TestDeployCompose parses deploy/compose.yaml: the four services, each with
// a health check, secrets only from files, and a stop grace period longer
// than the default drain and timeout.
func TestDeployCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := yaml.Parser().Unmarshal(raw)
	if err != nil {
		t.Fatalf("deploy/compose.yaml is not valid YAML: %v", err)
	}
	services, _ := doc["services"].(map[string]any)
	for _, name := range []string{"authz", "example-api", "postgres", "redis"} {
		svc, ok := services[name].(map[string]any)
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		hc, _ := svc["healthcheck"].(map[string]any)
		if test, _ := hc["test"].([]any); len(test) < 2 || test[0] != "CMD" {
			t.Errorf("service %s has no exec health check: %v", name, svc["healthcheck"])
		}
	}
	authz, _ := services["authz"].(map[string]any)
	grace, err := time.ParseDuration(fmtString(authz["stop_grace_period"]))
	d := defaultConfig().Shutdown
	if err != nil || grace <= d.Drain+d.Timeout {
		t.Errorf("authz stop_grace_period %v must exceed shutdown.drain + shutdown.timeout (%s)", authz["stop_grace_period"], d.Drain+d.Timeout)
	}
	if hc := strings.Join(toStrings(authz["healthcheck"].(map[string]any)["test"]), " "); !strings.Contains(hc, "nextoria-authz healthcheck") {
		t.Errorf("authz health check %q does not use the healthcheck command", hc)
	}
	// No secret value in the file itself: they come from env_file and secrets.
	secretish := regexp.MustCompile(`[A-Z_]*(SECRET|PASSWORD)[A-Z_]*:\s*"?[^"\s]{8,}`)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if secretish.MatchString(line) && !strings.Contains(line, "_FILE:") {
			t.Errorf("deploy/compose.yaml carries a secret value: %s", line)
		}
	}
}

func fmtString(v any) string { s, _ := v.(string); return s }

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmtString(x))
	}
	return out
}

// TestDeploySystemdUnit reads deploy/nextoria-authz.service: hardened,
// migrating before start, and given time to drain.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../deploy/nextoria-authz.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = v
		}
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
	} {
		if got, ok := set[k]; !ok || got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if !strings.HasSuffix(set["ExecStartPre"], "migrate up") || !strings.HasSuffix(set["ExecStart"], " serve") {
		t.Errorf("ExecStartPre=%q ExecStart=%q: want migrate up, then serve", set["ExecStartPre"], set["ExecStart"])
	}
	stop, err := time.ParseDuration(set["TimeoutStopSec"] + "s")
	d := defaultConfig().Shutdown
	if err != nil || stop <= d.Drain+d.Timeout+10*time.Second {
		t.Errorf("TimeoutStopSec=%s must exceed shutdown.drain + shutdown.timeout + the final flush", set["TimeoutStopSec"])
	}
}

// TestDeployContainerfile: non-root, the documented ports, the entrypoint.
func TestDeployContainerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{
		"\nFROM scratch\n", "\nUSER 65532:65532\n", "\nEXPOSE 8080 8081 9090\n",
		`ENTRYPOINT ["/usr/local/bin/nextoria-authz"]`, `CMD ["serve"]`, `"healthcheck"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("deploy/Containerfile lacks %q", strings.TrimSpace(want))
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "ENV") || strings.HasPrefix(line, "    NEXTORIA") {
			if strings.Contains(line, "SECRET") || strings.Contains(line, "PASSWORD") {
				t.Errorf("the image sets a secret: %s", line)
			}
		}
	}
}
