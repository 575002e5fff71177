# Devices of the wc-testbed QEMU (configs/devices/x86_64-softmmu/wc-testbed.mak
# in the QEMU tree; build-qemu.sh configures --without-default-devices
# --with-devices-x86_64=wc-testbed, so only these and what they select are
# built).  -M q35 selects the rest the machine instantiates itself: ICH9
# LPC/ACPI (PCI hot-plug through acpiphp), AHCI, SMBus, the ISA serial
# ports, PIT, RTC, i8259, IOAPIC.
CONFIG_Q35=y
# -device intel-iommu,intremap=on (q35 only implies it)
CONFIG_VTD=y
# -device pcie-root-port: wc-testdev's hot-plug slot
CONFIG_PCIE_PORT=y
# the guest's clock source stays what it was with the default devices
CONFIG_HPET=y
CONFIG_WC_TESTDEV=y
