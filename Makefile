# Thin wrapper around meson.  `make check` and `make demo` install what they
# need first (scripts/install-deps.sh is idempotent).

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_TEST_ARGS ?=

.PHONY: all deps setup debian-image-start check check-slow check-unit check-asan demo guest-image debian-image clean deb lab-quick

all: setup
	meson compile -C $(BUILD)

deps:
	./scripts/install-deps.sh

setup:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dstatic_guest_bins=false

# The guest image (kernel + initramfs with busybox, xvagent, xvbench).  Cached;
# rebuilt when an input changes.
guest-image: all
	./tools/vm/mkimage --out $(BUILD)/guest $(wildcard $(BUILD)/bench/xvbench $(BUILD)/agent/xvagent)

# A stock Debian 12 guest (systemd, qemu-guest-agent; tools/vm/mkdebian, profile
# min) for tests/integration/stock-debian.sh.  Cached; rebuilt when an input
# changes.  Needs the network (deb.debian.org) the first time.
debian-image: deps
	./tools/vm/mkdebian --out $(BUILD)/debian/min

# The Debian image is mostly downloading and unpacking: `check` starts it in
# the background (log in $(BUILD)/debian/min.log) while the programs compile.
debian-image-start: deps
	@mkdir -p $(BUILD)/debian
	./tools/vm/mkdebian --out $(BUILD)/debian/min >$(BUILD)/debian/min.log 2>&1 &

# Everything: unit + integration tests in the normal build, then the unit
# tests again under ASan/UBSan.
check: deps debian-image-start all guest-image $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)
	-./tools/vm/mkdebian --out $(BUILD)/debian/min  # waits for the background build (its lock); else stock-debian.sh builds it
	@cat $(BUILD)/debian/min.log
	meson test -C $(BUILD) --no-suite slow --print-errorlogs $(MESON_TEST_ARGS); a=$$?; \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C $(ASAN_BUILD) --suite unit --suite asan --print-errorlogs; b=$$?; \
	test $$a = 0 -a $$b = 0

# Suite slow: tests that boot the stock Debian guest once more (libvirt-qga).
check-slow: all debian-image
	meson test -C $(BUILD) --suite slow --print-errorlogs $(MESON_TEST_ARGS)

check-unit: all
	meson test -C $(BUILD) --suite unit --print-errorlogs

demo: deps all guest-image
	./scripts/demo.sh $(BUILD)

# The papers' experiments, short (docs/lab.md): 000 and 002 --quick into
# $(BUILD)/lab/ (002 needs the Debian lab image: tools/vm/mkdebian --profile lab).
lab-quick: all guest-image
	XV_BUILD=$(abspath $(BUILD)) tools/lab/xvlab run 000 --quick --out $(BUILD)/lab/000-quick
	XV_BUILD=$(abspath $(BUILD)) tools/lab/xvlab run 002 --quick --out $(BUILD)/lab/002-quick

# Debian packages xvsched and xvsched-agent (debian/, docs/packaging.md):
# dpkg-buildpackage in a copy of the working tree (git's files) under $(DEB_OUT), so the
# checkout stays clean; the .debs and lintian's report land in $(DEB_OUT).
DEB_OUT ?= build-deb
deb:
	./scripts/install-deps.sh deb
	rm -rf $(DEB_OUT)/src && mkdir -p $(DEB_OUT)/src
	git ls-files -z --cached --others --exclude-standard | \
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(DEB_OUT)/src
	cd $(DEB_OUT)/src && dpkg-buildpackage -us -uc -b
	lintian --info $(DEB_OUT)/xvsched_*.changes 2>&1 | tee $(DEB_OUT)/lintian.txt
	@! grep -q '^[EW]:' $(DEB_OUT)/lintian.txt || { echo "lintian: errors or warnings (above)"; exit 1; }

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
