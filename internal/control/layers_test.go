package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

const layerARN = "arn:aws:lambda:us-east-1:000000000000:layer:"

func publish(t *testing.T, l *control.Layers, name string, files map[string]string, runtimes ...string) *control.LayerVersion {
	t.Helper()
	v, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{
		LayerName:          name,
		Content:            &control.LayerVersionContentInput{ZipFile: controltest.Zip(t, files)},
		CompatibleRuntimes: runtimes,
	})
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	return v
}

func TestLayerVersionsAreNumberedFromOneAndNeverReused(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC)
	reg := openRegistry(t, st, control.WithClock(func() time.Time { return start }))
	l := reg.Layers()

	v1 := publish(t, l, "libs", map[string]string{"lib/a.txt": "a"}, "provided.al2023")
	v2 := publish(t, l, layerARN+"libs", map[string]string{"lib/a.txt": "b"})
	if v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", v1.Version, v2.Version)
	}
	out := v1.Output()
	if out.LayerArn != layerARN+"libs" || out.LayerVersionArn != layerARN+"libs:1" || out.Version != 1 ||
		out.CreatedDate != "2026-01-02T03:04:05.600+0000" || out.Content.CodeSha256 != v1.Code.Sha256 ||
		out.Content.CodeSize != v1.Code.Size || out.CompatibleRuntimes[0] != "provided.al2023" {
		t.Errorf("Output() = %+v", out)
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), "anifest") {
		t.Errorf("the output leaks the manifest: %s", raw)
	}

	for _, n := range []int64{1, 2} {
		if err := l.Delete(ctx, "libs", n); err != nil {
			t.Fatalf("delete %d: %v", n, err)
		}
	}
	if err := l.Delete(ctx, "libs", 2); err != nil {
		t.Errorf("deleting a deleted version again: %v, want success", err)
	}
	if _, err := l.Get("libs", 1); !errors.Is(err, control.ErrLayerNotFound) || errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("Get of a deleted version: %v", err)
	}
	if v3 := publish(t, l, "libs", map[string]string{"x": "y"}); v3.Version != 3 {
		t.Errorf("after deleting every version the next is %d, want 3", v3.Version)
	}

	reg.Close()
	reopened := openRegistry(t, st)
	if v, err := reopened.Layers().Get("libs", 3); err != nil || v.Code.Sha256 == "" {
		t.Fatalf("after reopening, Get libs:3 = %+v, %v", v, err)
	}
	if v4 := publish(t, reopened.Layers(), "libs", map[string]string{"x": "z"}); v4.Version != 4 {
		t.Errorf("after reopening the next version is %d, want 4", v4.Version)
	}
}

func TestLayersAreListedAndFilteredAsLambdaDoes(t *testing.T) {
	reg := openRegistry(t, statetest.New(t))
	l := reg.Layers()
	var size int64
	for _, v := range []*control.LayerVersion{
		publish(t, l, "b-layer", map[string]string{"f": "1"}, "provided.al2023"),
		publish(t, l, "b-layer", map[string]string{"f": "2"}, "python3.11"),
		publish(t, l, "a-layer", map[string]string{"f": "3"}, "provided.al2023", "python3.11"),
		publish(t, l, "c-layer", map[string]string{"f": "4"}),
	} {
		size += v.Code.Size
	}
	if n, total := reg.Usage(); n != 0 || total != size {
		t.Errorf("Usage() = %d functions, %d bytes; want 0 and the layers' %d", n, total, size)
	}

	tests := []struct {
		name, runtime string
		want          []string // LayerVersionArn of each LatestMatchingVersion, in order
	}{
		{"without a filter every layer shows its newest version", "", []string{"a-layer:1", "b-layer:2", "c-layer:1"}},
		{"a runtime filter shows each layer's newest compatible version", "provided.al2023", []string{"a-layer:1", "b-layer:1"}},
		{"a runtime no version lists shows nothing", "nodejs20.x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, next, err := l.List(tt.runtime, "", "", 0)
			if err != nil || next != "" {
				t.Fatalf("List: %v, next %q", err, next)
			}
			var got []string
			for _, it := range items {
				if it.LayerArn != layerARN+it.LayerName {
					t.Errorf("LayerArn %s for %s", it.LayerArn, it.LayerName)
				}
				got = append(got, strings.TrimPrefix(it.LatestMatchingVersion.LayerVersionArn, layerARN))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("pages of one layer follow each other", func(t *testing.T) {
		var names []string
		marker := ""
		for range 5 {
			items, next, err := l.List("", "", marker, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				names = append(names, it.LayerName)
			}
			if next == "" {
				break
			}
			marker = next
		}
		if strings.Join(names, " ") != "a-layer b-layer c-layer" {
			t.Errorf("paged through %v", names)
		}
	})

	t.Run("versions are listed newest first, in pages", func(t *testing.T) {
		page1, next, err := l.ListVersions("b-layer", "", "", "", 1)
		if err != nil || len(page1) != 1 || page1[0].Version != 2 || next == "" {
			t.Fatalf("first page %v, next %q, %v", page1, next, err)
		}
		page2, next, err := l.ListVersions("b-layer", "", "", next, 1)
		if err != nil || len(page2) != 1 || page2[0].Version != 1 || next != "" {
			t.Fatalf("second page %v, next %q, %v", page2, next, err)
		}
	})

	t.Run("a layer that does not exist has no versions", func(t *testing.T) {
		vs, next, err := l.ListVersions("nothing", "", "", "", 0)
		if err != nil || len(vs) != 0 || vs == nil || next != "" {
			t.Errorf("ListVersions = %v, %q, %v; want an empty list", vs, next, err)
		}
	})
}

func TestLayerRequestsAreValidatedAsLambdaDoes(t *testing.T) {
	l := openRegistry(t, statetest.New(t)).Layers()
	zip := controltest.Zip(t, map[string]string{"f": "x"})
	tests := []struct {
		name string
		call func() error
		typ  lambdaerr.Type
		msg  string
	}{
		{"a bad layer name", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "bad name", Content: &control.LayerVersionContentInput{ZipFile: zip}})
			return err
		}, lambdaerr.Validation, "at 'layerName' failed to satisfy constraint"},
		{"no content", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "l"})
			return err
		}, lambdaerr.InvalidParameterValue, "Value null at 'content'"},
		{"an S3 location", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "l", Content: &control.LayerVersionContentInput{S3Bucket: "b", S3Key: "k"}})
			return err
		}, lambdaerr.InvalidParameterValue, "S3 code locations are not supported"},
		{"an unknown compatible runtime", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "l", Content: &control.LayerVersionContentInput{ZipFile: zip},
				CompatibleRuntimes: []string{"cobol"}})
			return err
		}, lambdaerr.InvalidParameterValue, "Value '[cobol]' at 'compatibleRuntimes'"},
		{"three architectures", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "l", Content: &control.LayerVersionContentInput{ZipFile: zip},
				CompatibleArchitectures: []string{"x86_64", "arm64", "x86_64"}})
			return err
		}, lambdaerr.Validation, "Member must have length less than or equal to 2"},
		{"a package that is not a zip", func() error {
			_, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "l", Content: &control.LayerVersionContentInput{ZipFile: []byte("no")}})
			return err
		}, lambdaerr.InvalidParameterValue, "Could not unzip"},
		{"version zero", func() error { _, err := l.Get("l", 0); return err },
			lambdaerr.InvalidParameterValue, "Layer Version Cannot be less than 1"},
		{"a version that does not exist", func() error { _, err := l.Get("l", 7); return err },
			lambdaerr.ResourceNotFound, "The resource you requested does not exist."},
		{"an ARN without a version", func() error { _, err := l.GetByARN(layerARN + "l"); return err },
			lambdaerr.Validation, "at 'arn' failed to satisfy constraint"},
		{"another account's layer", func() error {
			_, err := l.GetByARN("arn:aws:lambda:us-east-1:111111111111:layer:l:1")
			return err
		}, lambdaerr.AccessDenied, "not authorized to perform: lambda:GetLayerVersion"},
		{"an unknown runtime filter", func() error { _, _, err := l.List("cobol", "", "", 0); return err },
			lambdaerr.InvalidParameterValue, "at 'compatibleRuntime'"},
		{"an unknown architecture filter", func() error { _, _, err := l.ListVersions("l", "", "sparc", "", 0); return err },
			lambdaerr.Validation, "at 'compatibleArchitecture'"},
		{"a MaxItems over 50", func() error { _, _, err := l.List("", "", "", 51); return err },
			lambdaerr.Validation, "at 'maxItems'"},
		{"a marker that is not one", func() error { _, _, err := l.List("", "", "%%", 0); return err },
			lambdaerr.InvalidParameterValue, "Invalid Marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			err := tt.call()
			if errType(err) != tt.typ || !strings.Contains(lambdaerr.As(err).Message, tt.msg) {
				t.Errorf("got %v, want %s containing %q", err, tt.typ, tt.msg)
			}
		})
	}
}

// inflatingStore reports every byte of a package's files as a megabyte, so tests reach the
// 250 MB bound with small zips.
type inflatingStore struct{ *controltest.CodeStore }

func (s inflatingStore) Put(ctx context.Context, zip []byte) (control.StoredCode, error) {
	c, err := s.CodeStore.Put(ctx, zip)
	c.UnzippedSize *= 1 << 20
	return c, err
}

func TestAFunctionsLayersAreCheckedAsLambdaDoes(t *testing.T) {
	ctx := context.Background()
	reg, err := control.Open(ctx, statetest.New(t), control.Config{}, inflatingStore{controltest.NewCodeStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	l := reg.Layers()
	mb100 := map[string]string{"a": strings.Repeat("a", 100)} // "100 MB" unzipped; the code is 10
	for _, n := range []string{"small", "s2", "s3", "s4", "s5", "s6"} {
		publish(t, l, n, mb100)
	}
	publish(t, l, "small", map[string]string{"a": strings.Repeat("b", 100)})

	tests := []struct {
		name   string
		layers []string
		typ    lambdaerr.Type
		msg    string
	}{
		{"six layers are too many", []string{layerARN + "small:1", layerARN + "s2:1", layerARN + "s3:1", layerARN + "s4:1", layerARN + "s5:1", layerARN + "s6:1"},
			lambdaerr.InvalidParameterValue, "Cannot reference more than 5 layers."},
		{"an ARN without a version breaks the pattern", []string{layerARN + "small"},
			lambdaerr.Validation, "Value '[" + layerARN + "small]' at 'layers' failed to satisfy constraint"},
		{"a version that does not exist", []string{layerARN + "small:9"},
			lambdaerr.InvalidParameterValue, "Layer version " + layerARN + "small:9 does not exist."},
		{"two versions of one layer", []string{layerARN + "small:1", layerARN + "small:2"},
			lambdaerr.InvalidParameterValue, "Two different versions of the same layer are not allowed to be referenced in the same function. " +
				layerARN + "small:1 and " + layerARN + "small:2 are versions of the same layer."},
		{"a layer in another region", []string{"arn:aws:lambda:eu-west-1:000000000000:layer:small:1"},
			lambdaerr.InvalidParameterValue, "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."},
		{"a layer in another account", []string{"arn:aws:lambda:us-east-1:111111111111:layer:small:1"},
			lambdaerr.AccessDenied, "is not authorized to perform: lambda:GetLayerVersion"},
		{"code and layers over 250 MB unzipped", []string{layerARN + "small:1", layerARN + "s2:1", layerARN + "s3:1"},
			lambdaerr.InvalidParameterValue, "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is "},
	}
	for i, tt := range tests {
		t.Run(tt.name+" is refused at create", func(t *testing.T) {
			in := createInput(t, "fn"+string(rune('a'+i)))
			in.Layers = tt.layers
			_, err := reg.Create(ctx, in)
			if errType(err) != tt.typ || !strings.Contains(lambdaerr.As(err).Message, tt.msg) {
				t.Errorf("got %v, want %s containing %q", err, tt.typ, tt.msg)
			}
		})
	}

	t.Run("a function keeps its layers in order, and runs on after a version it uses is deleted", func(t *testing.T) {
		in := createInput(t, "uses-layers")
		in.Layers = []string{layerARN + "small:2"}
		f, err := reg.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Config.Layers) != 1 || f.Config.Layers[0].Arn != layerARN+"small:2" || f.Config.Layers[0].CodeSize == 0 || len(f.LayerCode) != 1 {
			t.Fatalf("created with Layers %+v, layer code %v", f.Config.Layers, f.LayerCode)
		}
		waitConfig(t, reg, "uses-layers", isState(control.StateActive, ""))
		if err := l.Delete(ctx, "small", 2); err != nil {
			t.Fatal(err)
		}
		g, _ := reg.Lookup("uses-layers")
		if len(g.LayerCode) != 1 || g.LayerCode[0].Sha256 != f.LayerCode[0].Sha256 || len(g.LayerCode[0].Manifest) == 0 {
			t.Errorf("after deleting the layer version the function's layer code is %+v", g.LayerCode)
		}
	})

	t.Run("UpdateFunctionConfiguration sets, reorders and removes layers", func(t *testing.T) {
		steps := []struct {
			layers []string
			want   string
		}{
			{[]string{layerARN + "s3:1", layerARN + "small:1"}, layerARN + "s3:1 " + layerARN + "small:1"},
			{nil, layerARN + "s3:1 " + layerARN + "small:1"},
			{[]string{}, ""},
		}
		for _, st := range steps {
			f, err := reg.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "uses-layers", Layers: st.layers})
			if err != nil {
				t.Fatalf("update with %v: %v", st.layers, err)
			}
			var got []string
			for _, l := range f.Config.Layers {
				got = append(got, l.Arn)
			}
			if strings.Join(got, " ") != st.want || len(f.LayerCode) != len(got) {
				t.Errorf("after an update with %v the layers are %v (%d archives), want %q", st.layers, got, len(f.LayerCode), st.want)
			}
			waitConfig(t, reg, "uses-layers", isUpdated)
		}
	})

	t.Run("UpdateFunctionConfiguration refuses layers that with the code pass 250 MB", func(t *testing.T) {
		_, err := reg.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "uses-layers",
			Layers: []string{layerARN + "s3:1", layerARN + "s4:1", layerARN + "s5:1"}})
		if errType(err) != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "Function code combined with layers exceeds") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("UpdateFunctionCode refuses code that with the layers passes 250 MB", func(t *testing.T) {
		if _, err := reg.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "uses-layers",
			Layers: []string{layerARN + "s3:1"}}); err != nil {
			t.Fatal(err)
		}
		waitConfig(t, reg, "uses-layers", isUpdated)
		_, err := reg.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "uses-layers",
			ZipFile: controltest.Zip(t, map[string]string{"bootstrap": strings.Repeat("#", 200)})})
		if errType(err) != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "The actual size is 314572800 bytes.") {
			t.Errorf("got %v", err)
		}
	})
}

func TestConcurrentPublishesOfOneLayerGetDistinctVersions(t *testing.T) {
	l := openRegistry(t, statetest.New(t)).Layers()
	const n = 8
	versions := make(chan int64, n)
	errs := make(chan error, n)
	for i := range n {
		zip := controltest.Zip(t, map[string]string{"f": strings.Repeat("x", i)})
		go func() {
			v, err := l.Publish(context.Background(), &control.PublishLayerVersionInput{LayerName: "shared",
				Content: &control.LayerVersionContentInput{ZipFile: zip}})
			if err != nil {
				errs <- err
				return
			}
			versions <- v.Version
		}()
	}
	seen := map[int64]bool{}
	for range n {
		select {
		case err := <-errs:
			t.Fatalf("publish: %v", err)
		case v := <-versions:
			if seen[v] || v < 1 || v > n {
				t.Errorf("version %d given out twice or out of 1..%d", v, n)
			}
			seen[v] = true
		}
	}
	all, _, err := l.ListVersions("shared", "", "", "", 0)
	if err != nil || len(all) != n || all[0].Version != n {
		t.Errorf("ListVersions: %d versions, newest %v, %v", len(all), all, err)
	}
}
