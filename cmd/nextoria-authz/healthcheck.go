package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthURL is what healthcheck asks without --url: the readiness
// check of a server listening on port 8080, as in the container image.
const defaultHealthURL = "http://127.0.0.1:8080/health/ready"

// healthcheckCmd asks a running server whether it is ready. The container
// image has no shell or curl, so a compose healthcheck or a Docker
// HEALTHCHECK runs this instead.
func (c *cli) healthcheckCmd() *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a running server answers its health check with 200",
		Long: `Ask a running server whether it is ready: GET --url, exit 0 on 200 and 1
otherwise. It reads no configuration. Orchestrators that can make HTTP
requests should ask /health/ready themselves; this is for those that can
only run a command inside the container (compose, Docker's HEALTHCHECK).`,
		Example: "  nextoria-authz healthcheck\n" +
			"  nextoria-authz healthcheck --url http://127.0.0.1:8081/healthz   # the example API",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("--url %q must be an http or https URL", target)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := (&http.Client{Timeout: timeout}).Do(req)
			if err != nil {
				return fmt.Errorf("not healthy: %w", err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not healthy: %s answered %s", target, resp.Status)
			}
			if c.json {
				return c.printJSON(map[string]string{"status": "ok"})
			}
			c.printf("ok\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", defaultHealthURL, "health check `URL` to ask")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
