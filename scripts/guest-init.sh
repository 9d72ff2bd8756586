#!/bin/busybox sh
# /init of the test VM's initramfs: mount what the tests need, run them,
# hand the results and the kernel log back over the console between
# markers run_tests.sh looks for, and power off.
# The applets' links come with the initramfs (run_tests.sh reads busybox's
# table of names); make them here only if they did not.
[ -e /bin/sh ] || /bin/busybox --install -s /bin
# Every program started here costs 10-50 ms under emulation, before the
# first test: one mount for all file systems, shell builtins elsewhere.
# What the scenarios need from their machine: a cgroup2 hierarchy (G4),
# huge pages (P2), and leave to poison pages (P1-P3: this VM is thrown
# away). /sys/fs/cgroup is sysfs's own, there once sysfs is mounted.
printf '%s\n' 'proc /proc proc defaults 0 0' 'sys /sys sysfs defaults 0 0' \
	'dev /dev devtmpfs defaults 0 0' 'tmp /tmp tmpfs defaults 0 0' \
	'none /sys/fs/cgroup cgroup2 defaults 0 0' > /etc/fstab
mount -a
echo 8 > /proc/sys/vm/nr_hugepages
# Lost pages, a fake WARNING and taint in this VM's kernel harm nobody.
KVMC_ALLOW_DESTRUCTIVE=1 KVMC_ALLOW_HOST_TRACES=1
export KVMC_ALLOW_DESTRUCTIVE KVMC_ALLOW_HOST_TRACES

# Written by run_tests.sh for this run: KVMC_MODE, KVMC_FILTER, KVMC_STRICT...
[ -f /etc/kvmc.conf ] && . /etc/kvmc.conf
# Every judgement as a JSON line, sent back after the KTAP.
KVMC_OBSERVATIONS=/tmp/observations.jsonl
export KVMC_STRICT KVMC_RUN_TIMEOUT_MS KVMC_BIN_TIMEOUT KVMC_UNPRIVILEGED KVMC_OBSERVATIONS KVMC_DOC_FIXES KVMC_KNOWN_CRASHES

# Where KVM is a module (x86), load it and what it depends on, in order:
# only what this VM's CPU needs (kvm-amd under QEMU's SVM), so a failure
# is reported with insmod's own words.
mods=/lib/modules/kvm-contract
if [ ! -c /dev/kvm ] && [ -f $mods/load-order ]; then
	for m in $(cat $mods/load-order); do
		# Module parameters of this run's configuration (kvmc.conf
		# KVMC_MODULE_PARAMS_kvm_amd="npt=0" for x86_64-shadow).
		mv=$(echo "$m" | tr - _)
		eval "params=\${KVMC_MODULE_PARAMS_$mv:-}"
		# shellcheck disable=SC2086
		err=$(insmod $mods/$m.ko $params 2>&1) ||
			echo "@@KVMC-NOTE insmod $m failed: $(echo "$err" | tr '\n' ' ')"
		for p in $params; do
			[ -r /sys/module/$mv/parameters/${p%%=*} ] &&
				echo "@@KVMC-NOTE $mv.${p%%=*}=$(cat /sys/module/$mv/parameters/${p%%=*})"
		done
	done
	# devtmpfs creates /dev/kvm as the module registers it.
	i=0
	while [ ! -c /dev/kvm ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
fi

# x86: KVM's forced-emulation prefix, for the tests that drive its
# instruction emulator directly (include/x86_64/forced_emulation.h). It
# acts only on a guest's UD2 "kvm", which no other test executes.
fep=/sys/module/kvm/parameters/force_emulation_prefix
if [ -w $fep ] && echo 1 > $fep 2>/dev/null; then
	echo "@@KVMC-NOTE kvm.force_emulation_prefix=$(cat $fep)"
fi

{ read -r release < /proc/sys/kernel/osrelease && read -r machine < /proc/sys/kernel/arch; } 2>/dev/null ||
	{ release=$(uname -r); machine=$(uname -m); }
echo "@@KVMC-BEGIN guest $release $machine"
if [ ! -c /dev/kvm ]; then
	echo "@@KVMC-NOKVM /dev/kvm missing in the test VM (kernel without KVM, or no virtualization in the machine)"
else
	set --
	[ -n "${KVMC_FILTER:-}" ] && set -- -t "$KVMC_FILTER"
	[ "${KVMC_MODE:-run}" = list ] && set -- -l "$@"
	# A WARN or taint from boot or module loading belongs to no test:
	# report it once, before the first one (issue 11, C13); the tests'
	# binary prints the @@KVMC-BOOTHEALTH line if there is one.
	/kvm-contract/kvm-contract/kvm-contract-tests --boot-health
	# --coverage: the kernel's gcov counters (KVM's directories only)
	# count from here, so that they are the tests' and not the boot's.
	if [ "${KVMC_COVERAGE:-0}" = 1 ]; then
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
		if [ -e /sys/kernel/debug/gcov/reset ]; then
			echo 1 > /sys/kernel/debug/gcov/reset
		else
			echo "@@KVMC-NOTE no /sys/kernel/debug/gcov: a kernel without CONFIG_GCOV_KERNEL"
			KVMC_COVERAGE=0
		fi
	fi
	echo "@@KVMC-BEGIN ktap"
	if [ "${KVMC_UNPRIVILEGED:-0}" = 1 ]; then
		# The tests as user nobody, with /dev/kvm open to it: those that
		# need root must skip and say why.
		echo 'root:x:0:0::/:/bin/sh' > /etc/passwd
		echo 'nobody:x:65534:65534::/tmp:/bin/sh' >> /etc/passwd
		printf 'root:x:0:\nnogroup:x:65534:\n' > /etc/group
		chmod 666 /dev/kvm
		chmod 1777 /tmp
		export KVMC_FILTER
		su -s /bin/sh nobody -c '/kvm-contract/kvm-contract/ktap-runner.sh ${KVMC_FILTER:+-t "$KVMC_FILTER"} /kvm-contract/kvm-contract'
	elif [ "${KVMC_MODE:-run}" = kselftest ]; then
		# The install tree under the kernel's own kselftest runner.
		/kvm-contract/run_kselftest.sh
	else
		/kvm-contract/kvm-contract/ktap-runner.sh "$@" /kvm-contract/kvm-contract
	fi
	echo "@@KVMC-END ktap"
fi

# --coverage: every .gcda file, base64, between markers that give its path
# under the gcov directory, size and sha256 (kvmc.coverage checks all three).
send_gcda() {
	phase=$1
	find /sys/kernel/debug/gcov -name '*.gcda' | sort | while read -r f; do
		cat "$f" > /tmp/gcda || continue
		size=$(wc -c < /tmp/gcda)
		sum=$(sha256sum < /tmp/gcda)
		echo "@@KVMC-GCDA $phase $size ${sum%% *} ${f#/sys/kernel/debug/gcov}"
		base64 /tmp/gcda
		echo "@@KVMC-GCDA-END"
	done
}
if [ "${KVMC_COVERAGE:-0}" = 1 ]; then
	send_gcda suite
	echo 1 > /sys/kernel/debug/gcov/reset
fi
# Other test programs the run brought along (the benchmark puts the
# kernel's own KVM selftests here), each timed by the host from its markers.
if [ -c /dev/kvm ] && [ -f /extra/list.txt ]; then
	echo "@@KVMC-BEGIN extra"
	while read -r name args; do
		echo "@@KVMC-EXTRA-START $name"
		# shellcheck disable=SC2086
		(cd /extra && timeout "${KVMC_BIN_TIMEOUT:-600}" ./$name $args) > /tmp/extra.log 2>&1
		echo "@@KVMC-EXTRA-END $name $?"
		tail -n 5 /tmp/extra.log | cut -c 1-300
	done < /extra/list.txt
	echo "@@KVMC-END extra"
	[ "${KVMC_COVERAGE:-0}" = 1 ] && send_gcda selftests
fi
if [ -s /tmp/observations.jsonl ]; then
	echo "@@KVMC-BEGIN observations"
	cat /tmp/observations.jsonl
	echo "@@KVMC-END observations"
fi
echo "@@KVMC-BEGIN dmesg"
dmesg
echo "@@KVMC-END dmesg"
echo "@@KVMC-DONE"
poweroff -f
