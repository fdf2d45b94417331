package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"
)

// DefaultRole is the execution role deploy sends when none is given. The Lambda API requires
// one; Ember accepts any well-formed role ARN.
const DefaultRole = "arn:aws:iam::000000000000:role/ember-function"

// deployWait bounds how long deploy waits for a function to become Active or Successful.
const deployWait = 5 * time.Minute

type deployOptions struct {
	name        string
	runtime     string
	handler     string
	role        string
	description string
	memory      int32
	timeout     int32
	env         []string
}

func newDeployCommand(stdio IO, cf *clientFlags) *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy DIR|ZIP",
		Short: "Create a function from a directory or zip, or update it if it exists",
		Long: `Create a function from a directory (zipped with file modes kept, so bootstrap stays
executable) or a zip file, or update its code and configuration if it already exists.
Waits until the function is Active and its last update Successful, then prints its ARN.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnv(o.env)
			if err != nil {
				return err
			}
			if o.name == "" {
				o.name = defaultFunctionName(args[0])
			}
			pkg, err := ReadPackage(args[0])
			if err != nil {
				return err
			}
			progress := &progressClient{next: defaultHTTPClient(), min: 64 << 10, out: stdio.Err, live: isTerminal(stdio.Err)}
			client, _, err := cf.lambdaClient(progress)
			if err != nil {
				return err
			}
			d := deployer{client: client, opts: o, env: env, changed: cmd.Flags().Changed, log: func(f string, a ...any) { fmt.Fprintf(stdio.Err, f+"\n", a...) }}
			cfg, err := d.deploy(commandContext(cmd), pkg)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdio.Out, aws.ToString(cfg.FunctionArn))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "function name (default: the directory or zip file's base name)")
	f.StringVar(&o.runtime, "runtime", string(types.RuntimeProvidedal2023), "runtime identifier")
	f.StringVar(&o.handler, "handler", "", "handler (default bootstrap for provided runtimes)")
	f.StringVar(&o.role, "role", DefaultRole, "execution role ARN")
	f.StringVar(&o.description, "description", "", "function description")
	f.Int32Var(&o.memory, "memory", 0, "memory size in MB (default: the server's, 128)")
	f.Int32Var(&o.timeout, "timeout", 0, "timeout in seconds (default: the server's, 3)")
	f.StringArrayVar(&o.env, "env", nil, "environment variable K=V (repeatable)")
	cf.register(cmd)
	return cmd
}

// defaultFunctionName is the base name of a directory or zip file, without .zip.
func defaultFunctionName(path string) string {
	base := filepath.Base(filepath.Clean(path))
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// parseEnv turns K=V pairs into a map.
func parseEnv(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", p)
		}
		env[k] = v
	}
	return env, nil
}

// deployer creates or updates one function.
type deployer struct {
	client  *lambda.Client
	opts    *deployOptions
	env     map[string]string
	changed func(flag string) bool
	log     func(format string, args ...any)
}

func (d deployer) handler() *string {
	if d.opts.handler != "" {
		return aws.String(d.opts.handler)
	}
	if strings.HasPrefix(d.opts.runtime, "provided") {
		return aws.String("bootstrap")
	}
	return nil
}

func optInt32(v int32) *int32 {
	if v == 0 {
		return nil
	}
	return aws.Int32(v)
}

func (d deployer) deploy(ctx context.Context, pkg []byte) (*lambda.GetFunctionConfigurationOutput, error) {
	name := d.opts.name
	_, err := d.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return d.create(ctx, pkg)
	case err != nil:
		return nil, fmt.Errorf("looking up %s: %w", name, err)
	}
	return d.update(ctx, pkg)
}

func (d deployer) create(ctx context.Context, pkg []byte) (*lambda.GetFunctionConfigurationOutput, error) {
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(d.opts.name),
		Runtime:      types.Runtime(d.opts.runtime),
		Handler:      d.handler(),
		Role:         aws.String(d.opts.role),
		Code:         &types.FunctionCode{ZipFile: pkg},
		MemorySize:   optInt32(d.opts.memory),
		Timeout:      optInt32(d.opts.timeout),
	}
	if d.opts.description != "" {
		in.Description = aws.String(d.opts.description)
	}
	if d.env != nil {
		in.Environment = &types.Environment{Variables: d.env}
	}
	d.log("creating %s (%s)", d.opts.name, humanBytes(int64(len(pkg))))
	if _, err := d.client.CreateFunction(ctx, in); err != nil {
		return nil, fmt.Errorf("creating %s: %w", d.opts.name, err)
	}
	return d.wait(ctx)
}

func (d deployer) update(ctx context.Context, pkg []byte) (*lambda.GetFunctionConfigurationOutput, error) {
	d.log("updating %s (%s)", d.opts.name, humanBytes(int64(len(pkg))))
	if _, err := d.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
		FunctionName: aws.String(d.opts.name),
		ZipFile:      pkg,
	}); err != nil {
		return nil, fmt.Errorf("updating the code of %s: %w", d.opts.name, err)
	}
	cfg, err := d.wait(ctx)
	if err != nil {
		return nil, err
	}
	in := &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(d.opts.name)}
	changes := false
	if d.changed("runtime") {
		in.Runtime, changes = types.Runtime(d.opts.runtime), true
	}
	if d.changed("handler") {
		in.Handler, changes = aws.String(d.opts.handler), true
	}
	if d.changed("role") {
		in.Role, changes = aws.String(d.opts.role), true
	}
	if d.changed("description") {
		in.Description, changes = aws.String(d.opts.description), true
	}
	if d.changed("memory") {
		in.MemorySize, changes = aws.Int32(d.opts.memory), true
	}
	if d.changed("timeout") {
		in.Timeout, changes = aws.Int32(d.opts.timeout), true
	}
	if d.changed("env") {
		in.Environment, changes = &types.Environment{Variables: d.env}, true
	}
	if !changes {
		return cfg, nil
	}
	if _, err := d.client.UpdateFunctionConfiguration(ctx, in); err != nil {
		return nil, fmt.Errorf("updating the configuration of %s: %w", d.opts.name, err)
	}
	return d.wait(ctx)
}

// wait polls until the function is Active with no update in progress.
func (d deployer) wait(ctx context.Context) (*lambda.GetFunctionConfigurationOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, deployWait)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		cfg, err := d.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(d.opts.name)})
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", d.opts.name, err)
		}
		switch {
		case cfg.State == types.StateFailed:
			return nil, fmt.Errorf("%s failed: %s: %s", d.opts.name, cfg.StateReasonCode, aws.ToString(cfg.StateReason))
		case cfg.LastUpdateStatus == types.LastUpdateStatusFailed:
			return nil, fmt.Errorf("updating %s failed: %s: %s", d.opts.name, cfg.LastUpdateStatusReasonCode, aws.ToString(cfg.LastUpdateStatusReason))
		case cfg.State == types.StateActive && cfg.LastUpdateStatus != types.LastUpdateStatusInProgress:
			return cfg, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s (state %s, last update %s): %w", d.opts.name, cfg.State, cfg.LastUpdateStatus, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}
