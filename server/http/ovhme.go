package http

import (
	nethttp "net/http"
)

// GET /auth/details and GET /me: who is calling. Both are authenticated
// like every /1.0 route (before anything else is looked at), and describe
// only the caller's own credential, never a secret.

// accessRule is auth.AccessRule.
type accessRule struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// authDetails is auth.Details as OVH's Terraform provider reads it (the
// provider calls GET /auth/details first and stops if it fails).
type authDetails struct {
	Account       string       `json:"account"`
	AllowedRoutes []accessRule `json:"allowedRoutes"`
	Description   string       `json:"description"`
	Identities    []string     `json:"identities"`
	Method        string       `json:"method"`
	Roles         []string     `json:"roles"`
	User          string       `json:"user"`
}

// allRoutes is what a credential without rules may call.
var allRoutes = []accessRule{{"GET", "/*"}, {"POST", "/*"}, {"PUT", "/*"}, {"DELETE", "/*"}}

func (s *Server) ovhAuthDetails(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	p, _ := PrincipalFrom(r.Context())
	out := authDetails{
		Account: s.cfg.Account, AllowedRoutes: allRoutes, Description: p.Name,
		Identities: []string{}, Method: "account", Roles: []string{}, User: "",
	}
	if len(p.Rules) > 0 {
		out.AllowedRoutes = make([]accessRule, len(p.Rules))
		for i, rule := range p.Rules {
			out.AllowedRoutes[i] = accessRule(rule)
		}
	}
	writeJSON(w, nethttp.StatusOK, out)
}

// currency is nichandle.Currency.
type currency struct {
	Code   string `json:"code"`
	Symbol string `json:"symbol"`
}

// account is a minimal nichandle.Nichandle: its required properties, and
// the names scripts print ("Welcome", me['firstname']).
type account struct {
	Country       string   `json:"country"`
	Currency      currency `json:"currency"`
	Email         string   `json:"email"`
	Firstname     string   `json:"firstname"`
	Legalform     string   `json:"legalform"`
	Name          string   `json:"name"`
	Nichandle     string   `json:"nichandle"`
	Organisation  string   `json:"organisation"`
	OVHCompany    string   `json:"ovhCompany"`
	OVHSubsidiary string   `json:"ovhSubsidiary"`
	State         string   `json:"state"`
}

func (s *Server) ovhMe(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	writeJSON(w, nethttp.StatusOK, account{
		Country: "UNKNOWN", Currency: currency{Code: "EUR", Symbol: "EURO"}, Email: "",
		Firstname: s.cfg.Account, Legalform: "other", Name: s.cfg.Account, Nichandle: s.cfg.Account,
		Organisation: "byoi", OVHCompany: "ovh", OVHSubsidiary: "EU", State: "complete",
	})
}
