// Package docs holds the published contract of the server's HTTP surface:
// openapi.yaml, the OpenAPI 3.1 description of every JSON endpoint of the
// authorization server and of the example REST API, embedded so that the
// server serves it at GET /openapi.yaml and the tests validate responses
// against the very same bytes.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
