package http

import (
	_ "embed"
	nethttp "net/http"
)

// openAPISpec describes the native API (and the agent API) in OpenAPI 3.
//
//go:embed openapi.json
var openAPISpec []byte

func handleOpenAPI(w nethttp.ResponseWriter, _ *nethttp.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPISpec)
}
