package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/store"
)

// DemoCredentials is DATA/demo-credentials.json.
type DemoCredentials struct {
	API                string       `json:"api"`
	PlatformAdminToken string       `json:"platform_admin_token"`
	Tenants            []DemoTenant `json:"tenants"`
	Agents             []DemoAgent  `json:"agents"`
	// ADCPSandbox is the sandbox account's governance agent, for the AdCP
	// conformance runner (its tenant token trusts the caller it claims).
	ADCPSandbox *DemoADCPEndpoint `json:"adcp_sandbox,omitempty"`
	// ADCP holds the advertising account's buyer and seller credentials.
	ADCP []DemoADCPPrincipal `json:"adcp,omitempty"`
}

// DemoADCPEndpoint is a governance agent endpoint and a token for it.
type DemoADCPEndpoint struct {
	Account string `json:"account"`
	MCPURL  string `json:"mcp_url"`
	Token   string `json:"token"`
}

// DemoADCPPrincipal is an AdCP buyer or seller credential of an account.
type DemoADCPPrincipal struct {
	Account  string `json:"account"`
	Role     string `json:"role"`
	AgentURL string `json:"agent_url"`
	MCPURL   string `json:"mcp_url"`
	Token    string `json:"token"`
}

// Demo AdCP principals of the advertising account.
var demoPrincipals = []struct{ role, url string }{
	{"buyer", "https://media-buyer.adsales.northwind.example"},
	{"seller", "https://sales.streamhaus.example"},
}

// DemoTenant is a tenant's demo credential.
type DemoTenant struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// DemoAgent is an agent's demo key.
type DemoAgent struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Key    string `json:"key"`
}

// seedDemo registers the example fleet's agents and writes their credentials.
// A data directory that already holds a working demo keeps its credentials.
func seedDemo(ctx context.Context, plane *control.Plane, fleetDir, dataDir, baseURL string) (string, error) {
	path := filepath.Join(dataDir, demoCredentials)
	if creds, ok := existingDemo(ctx, plane, path); ok {
		creds.API = baseURL
		return path, writeDemo(path, creds)
	}
	st := plane.Store()
	now := time.Now()
	admin, err := auth.Mint(store.KindPlatformAdmin, "", "", "demo", now)
	if err != nil {
		return "", err
	}
	if err := st.CreateCredential(ctx, admin.Credential); err != nil {
		return "", fmt.Errorf("store the platform admin credential: %w", err)
	}
	pr := auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: admin.Credential.ID}
	creds := DemoCredentials{API: baseURL, PlatformAdminToken: admin.Secret, Tenants: []DemoTenant{}, Agents: []DemoAgent{}}
	for _, t := range plane.Repo().Config.Tenants {
		_, secret, err := plane.IssueTenantToken(ctx, pr, t.ID, "demo")
		if err != nil {
			return "", err
		}
		creds.Tenants = append(creds.Tenants, DemoTenant{ID: t.ID, Token: secret})
	}
	specs, err := fleet.LoadSpecs(filepath.Join(fleetDir, fleet.SpecsDir))
	if err != nil {
		return "", fmt.Errorf("the demo specs do not parse:%s", specErrors(err))
	}
	for _, s := range specs {
		src, err := os.ReadFile(s.File)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(fleetDir, s.File)
		res, err := plane.Register(ctx, pr, rel, src)
		if err != nil {
			var rej *control.RejectedError
			if errors.As(err, &rej) && len(rej.Findings) > 0 {
				return "", fmt.Errorf("register %s: %s: %s:%d: %s", rel, rej.Msg, rej.Findings[0].File, rej.Findings[0].Line, rej.Findings[0].Message)
			}
			return "", fmt.Errorf("register %s: %w", rel, err)
		}
		key := res.AgentKey
		if key == "" { // registered by an earlier run whose credentials file is gone
			if _, key, err = plane.RotateAgentKey(ctx, pr, res.Agent.ID); err != nil {
				return "", err
			}
		}
		creds.Agents = append(creds.Agents, DemoAgent{ID: res.Agent.ID, Tenant: res.Agent.TenantID, Key: key})
	}
	slices.SortFunc(creds.Agents, func(a, b DemoAgent) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return path, writeDemo(path, creds)
}

// existingDemo reads a demo credentials file whose every credential still
// authenticates.
func existingDemo(ctx context.Context, plane *control.Plane, path string) (DemoCredentials, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return DemoCredentials{}, false
	}
	var c DemoCredentials
	if json.Unmarshal(b, &c) != nil || c.PlatformAdminToken == "" || len(c.Agents) == 0 {
		return DemoCredentials{}, false
	}
	secrets := []string{c.PlatformAdminToken}
	for _, t := range c.Tenants {
		secrets = append(secrets, t.Token)
	}
	for _, a := range c.Agents {
		secrets = append(secrets, a.Key)
	}
	for _, s := range secrets {
		if _, err := plane.Authenticate(ctx, s); err != nil {
			return DemoCredentials{}, false
		}
	}
	return c, true
}

func writeDemo(path string, c DemoCredentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	// Write a sibling and rename it over the file, so that a reader never
	// sees half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// seedDemoADCP adds the governance agents' credentials to the demo file.
func seedDemoADCP(ctx context.Context, plane *control.Plane, gov *governance.Agent, dataDir string) error {
	path := filepath.Join(dataDir, demoCredentials)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var creds DemoCredentials
	if err := json.Unmarshal(b, &creds); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if creds.ADCPSandbox != nil && len(creds.ADCP) > 0 {
		ok := true
		for _, p := range creds.ADCP {
			if _, err := plane.Authenticate(ctx, p.Token); err != nil {
				ok = false
			}
		}
		if ok {
			return nil
		}
	}
	admin, err := plane.Authenticate(ctx, creds.PlatformAdminToken)
	if err != nil {
		return fmt.Errorf("the demo platform admin token no longer authenticates: %w", err)
	}
	creds.ADCPSandbox, creds.ADCP = nil, nil
	for _, t := range plane.Repo().Config.Tenants {
		if t.Kind != "advertising" {
			continue
		}
		mcpURL := gov.Issuer(t.ID) + "/mcp"
		if t.Sandbox {
			for _, dt := range creds.Tenants {
				if dt.ID == t.ID {
					creds.ADCPSandbox = &DemoADCPEndpoint{Account: t.ID, MCPURL: mcpURL, Token: dt.Token}
				}
			}
			continue
		}
		for _, p := range demoPrincipals {
			_, secret, err := plane.IssueADCPCredential(ctx, admin, t.ID, p.url, "demo "+p.role)
			if err != nil {
				return err
			}
			creds.ADCP = append(creds.ADCP, DemoADCPPrincipal{Account: t.ID, Role: p.role, AgentURL: p.url, MCPURL: mcpURL, Token: secret})
		}
	}
	return writeDemo(path, creds)
}
