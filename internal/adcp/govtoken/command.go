package govtoken

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// VerifyCommand is the seller-side "fleetgov adcp verify-token" command: it
// runs Verify on one token and prints a JSON verdict,
//
//	{"result":"accept","kid":...,"claims":{...}}
//	{"result":"reject","error":"governance_token_expired"}
//
// on stdout, the failed check's detail on stderr. It returns the exit code:
// 0 accepted, 1 rejected, 2 a usage error. args are the arguments after the
// command name; "fleetgov adcp verify-token -h" lists them. The token is the
// one positional argument, "-" for stdin.
func VerifyCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		jwksSrc     = fs.String("jwks", "", "the issuer's JWKS: an https URL (its jwks_uri) or a file (required)")
		issuers     = fs.String("issuer", "", "trusted governance agent URL(s) from the buyer's brand.json, comma-separated (required)")
		audience    = fs.String("audience", "", "this seller's own canonical URL, as in adagents.json (required)")
		caller      = fs.String("caller", "", "the transport-authenticated caller the token must name")
		phase       = fs.String("phase", string(PhaseIntent), "the gate: intent, purchase, modification or delivery")
		task        = fs.String("task", "", "the invoked AdCP task, e.g. create_media_buy")
		payloadFile = fs.String("payload", "", "file with the received task request (raw JSON), for authorized_payload_hash")
		commitment  = fs.String("commitment", "", `the amount about to be committed, "AMOUNT CUR", e.g. "1500 USD"`)
		mediaBuyID  = fs.String("media-buy-id", "", "the request's media buy id")
		subject     = fs.String("subject", "", "the sub retained from an earlier token of this action")
		revSrc      = fs.String("revocations", "", "the issuer's governance-revocations.json: an https URL or a file")
		grace       = fs.Duration("revocation-grace", 0, "how long past next_update a revocation list stays usable")
		at          = fs.String("now", "", "verify as of this time (RFC 3339 or unix seconds) instead of now")
		skew        = fs.Duration("skew", DefaultClockSkew, "clock skew tolerance")
		insecure    = fs.Bool("allow-insecure", false, "allow http:// and private addresses (local testing only)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fleetgov adcp verify-token [flags] TOKEN|-")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "verify-token: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() != 1 {
		return usage("want exactly one token argument (or - for stdin)")
	}
	if *jwksSrc == "" || *issuers == "" || *audience == "" {
		return usage("-jwks, -issuer and -audience are required")
	}
	token := fs.Arg(0)
	if token == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, MaxTokenLength+2))
		if err != nil {
			return usage("read token: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}

	opts := VerifyOptions{
		ClockSkew:       *skew,
		Audience:        *audience,
		Caller:          *caller,
		Phase:           Phase(*phase),
		Task:            *task,
		MediaBuyID:      *mediaBuyID,
		Subject:         *subject,
		RevocationGrace: *grace,
	}
	if *skew == 0 {
		opts.ClockSkew = -1
	}
	if !opts.Phase.Valid() {
		return usage("-phase %q: want intent, purchase, modification or delivery", *phase)
	}
	for _, iss := range strings.Split(*issuers, ",") {
		if iss = strings.TrimSpace(iss); iss != "" {
			opts.Issuers = append(opts.Issuers, iss)
		}
	}
	if *at != "" {
		t, err := parseTime(*at)
		if err != nil {
			return usage("-now: %v", err)
		}
		opts.Now = t
	}
	if *payloadFile != "" {
		b, err := os.ReadFile(*payloadFile)
		if err != nil {
			return usage("-payload: %v", err)
		}
		opts.Payload = bytes.TrimSpace(b)
	}
	if *commitment != "" {
		amount, currency, ok := strings.Cut(strings.TrimSpace(*commitment), " ")
		f, err := strconv.ParseFloat(amount, 64)
		if !ok || err != nil || f < 0 || !currencyRE.MatchString(strings.TrimSpace(currency)) {
			return usage(`-commitment %q: want "AMOUNT CUR"`, *commitment)
		}
		opts.Commitment = &Commitment{Amount: f, Currency: strings.TrimSpace(currency)}
	}

	fetcher := &Fetcher{AllowInsecure: *insecure}
	keys := &JWKSCache{Source: *jwksSrc, Fetcher: fetcher}
	opts.Keys = keys
	if *revSrc != "" {
		set, err := keys.KeySet(ctx, "", false)
		if err == nil {
			opts.Revocations, err = fetcher.LoadRevocationList(ctx, *revSrc, set)
		}
		if err != nil {
			// Without a list, execution tokens fail as stale; say why.
			fmt.Fprintf(stderr, "verify-token: revocation list: %v\n", err)
		}
	}

	_, err := Verify(ctx, token, opts)
	code := CodeOf(err)
	if err != nil && code == "" {
		fmt.Fprintf(stderr, "verify-token: %v\n", err)
		return 2
	}
	var w objectWriter
	if err != nil {
		w.str("result", "reject")
		w.str("error", string(code))
		fmt.Fprintf(stderr, "verify-token: %v\n", err)
	} else {
		tok, _ := Parse(token) // verified above
		w.str("result", "accept")
		w.str("kid", tok.Header.KID)
		w.raw("claims", tok.payload)
	}
	stdout.Write(append(w.bytes(), '\n'))
	if err != nil {
		return 1
	}
	return 0
}

func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339, s)
}
