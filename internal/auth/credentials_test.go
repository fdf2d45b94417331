package auth

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var (
	generatedID     = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	generatedSecret = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestLoadOrCreateRootTakesTheKeyFromTheEnvironmentFirst(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateRoot(dir, env(nil)); err != nil { // a file exists too
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateRoot(dir, env(map[string]string{
		EnvRootAccessKeyID: "AKIAENVKEY0000000000", EnvRootSecretAccessKey: "env-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Credentials{"AKIAENVKEY0000000000", "env-secret"}); got != want || created {
		t.Fatalf("LoadOrCreateRoot = %+v, created=%v; want %+v, false", got, created, want)
	}
}

func TestLoadOrCreateRootRefusesHalfAKeyInTheEnvironment(t *testing.T) {
	for _, name := range []string{EnvRootAccessKeyID, EnvRootSecretAccessKey} {
		t.Run("only "+name+" set is an error", func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := LoadOrCreateRoot(dir, env(map[string]string{name: "x"}))
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v, want ErrInvalidCredentials", err)
			}
			if _, err := os.Stat(RootFilePath(dir)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a root file was written: %v", err)
			}
		})
	}
}

func TestLoadOrCreateRootRefusesAnEnvironmentKeyAClientCannotSend(t *testing.T) {
	_, _, err := LoadOrCreateRoot(t.TempDir(), env(map[string]string{
		EnvRootAccessKeyID: "AKIA/SLASH", EnvRootSecretAccessKey: "s",
	}))
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
}

func TestLoadOrCreateRootGeneratesAKeyOnceAndReusesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not there yet
	first, created, err := LoadOrCreateRoot(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("created = false for a new data dir")
	}
	if !generatedID.MatchString(first.AccessKeyID) || len(first.AccessKeyID) != 20 {
		t.Errorf("access key id %q is not AKIA + 16 base32 characters", first.AccessKeyID)
	}
	if !generatedSecret.MatchString(first.SecretAccessKey) {
		t.Errorf("secret %q is not 40 base64 characters", first.SecretAccessKey)
	}
	fi, err := os.Stat(RootFilePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("root file mode = %v, want 0600", mode)
	}
	data, _ := os.ReadFile(RootFilePath(dir))
	if !strings.Contains(string(data), `"AccessKeyId": "`+first.AccessKeyID+`"`) {
		t.Errorf("root file does not use AWS's field names: %s", data)
	}

	second, created, err := LoadOrCreateRoot(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if created || second != first {
		t.Fatalf("second call = %+v, created=%v; want the first key, created=false", second, created)
	}
	read, err := ReadRootFile(dir)
	if err != nil || read != first {
		t.Fatalf("ReadRootFile = %+v, %v; want %+v", read, err, first)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s", len(entries), RootFileName)
	}
}

func TestLoadOrCreateRootGivesConcurrentCallersOneKey(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	keys := make([]Credentials, n)
	errs := make([]error, n)
	createdCount := 0
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, created, err := LoadOrCreateRoot(dir, env(nil))
			keys[i], errs[i] = c, err
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("caller %d got %+v, caller 0 got %+v", i, keys[i], keys[0])
		}
	}
	if createdCount != 1 {
		t.Errorf("%d callers reported created, want 1", createdCount)
	}
}

func TestReadRootFileReportsAMissingFileAsNotExist(t *testing.T) {
	_, err := ReadRootFile(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadRootFileRefusesACorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON is an error":       "AKIA...",
		"an empty secret is refused": `{"AccessKeyId":"AKIAX","SecretAccessKey":""}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(RootFilePath(dir), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadRootFile(dir); err == nil {
				t.Fatal("ReadRootFile accepted a corrupt file")
			}
			if _, _, err := LoadOrCreateRoot(dir, env(nil)); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("LoadOrCreateRoot = %v; want the corrupt file reported, not replaced", err)
			}
		})
	}
}

func TestConfigureHintPrintsExportAndConfigureLines(t *testing.T) {
	c := Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	got := ConfigureHint(c, "http://127.0.0.1:9777", "us-east-1")
	want := `export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:9777
aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE --profile ember
aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY --profile ember
aws configure set region us-east-1 --profile ember
aws configure set endpoint_url http://127.0.0.1:9777 --profile ember
# AWS CLI releases before 2.13 ignore endpoint settings: pass --endpoint-url, e.g.
aws --endpoint-url http://127.0.0.1:9777 lambda list-functions
`
	if got != want {
		t.Fatalf("ConfigureHint =\n%s\nwant\n%s", got, want)
	}
}

func TestConfigureHintQuotesValuesTheShellWouldInterpret(t *testing.T) {
	c := Credentials{AccessKeyID: "AKIAX", SecretAccessKey: `it's $HOME; "x" *`}
	hint := ConfigureHint(c, "http://127.0.0.1:9777", "us-east-1")
	script := strings.SplitN(hint, "\n", 2)[0] + "\nprintf %s \"$AWS_ACCESS_KEY_ID\"\n" +
		strings.SplitN(hint, "\n", 3)[1] + "\nprintf '|%s' \"$AWS_SECRET_ACCESS_KEY\"\n"
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		testenv.Need(t, "needs /bin/sh: %v", err)
	}
	if want := "AKIAX|" + c.SecretAccessKey; string(out) != want {
		t.Fatalf("the shell read %q, want %q", out, want)
	}
}

func TestConfigureHintLinesConfigureTheAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI several times; skipped with -short")
	}
	testenv.NeedCommand(t, "/usr/bin/aws", "awscli")
	home := t.TempDir()
	c := Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	var script strings.Builder
	for _, line := range strings.Split(ConfigureHint(c, "http://127.0.0.1:9777", "eu-west-1"), "\n") {
		if strings.HasPrefix(line, "aws configure set") {
			script.WriteString("/usr/bin/" + line + " || exit 1\n")
		}
	}
	script.WriteString("/usr/bin/aws configure get aws_secret_access_key --profile ember\n")
	cmd := exec.Command("/bin/sh", "-c", script.String())
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws configure: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != c.SecretAccessKey {
		t.Fatalf("aws configure get = %q, want %q", out, c.SecretAccessKey)
	}
	cfg, _ := os.ReadFile(filepath.Join(home, "config"))
	if !strings.Contains(string(cfg), "[profile ember]") || !strings.Contains(string(cfg), "region = eu-west-1") {
		t.Errorf("config file:\n%s", cfg)
	}
}
