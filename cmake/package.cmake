# package.cmake: the Debian 12 package of promised, made by CPack's DEB
# generator (`cmake --build BUILD --target package` writes
# BUILD/promised_<version>_amd64.deb), plus the one install rule the package
# needs that a source install needs too (the sysusers.d file of the service
# user). Included at the end of the top CMakeLists.txt, after every other
# install() rule, because CPack packages what was declared before it.
#
# Build the package from a Release build configured for /usr, so the paths
# compiled into the programs and written into the unit (/usr/sbin, /etc,
# /usr/share/promised/templates) are the ones the package installs:
#
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-deb -j"$(nproc)" --target package
#
# Any other prefix is refused when packaging (packaging/package_check.cmake):
# CPack always installs below /usr, so a /usr/local build would ship
# programs that look for /usr/local/etc/promised/promised.yaml and a config
# in /usr/etc. Needs dpkg-dev (dpkg-shlibdeps) and file (CPack looks at
# each file to find the ELF objects), both in PROMISED_BUILD_DEPS.

# The service user (User=promised in the unit). Relative to the prefix like
# the unit: /usr/lib/sysusers.d for the package; /usr/local/lib/sysusers.d,
# which systemd-sysusers reads as well, for a source install.
install(FILES ${PROJECT_SOURCE_DIR}/systemd/promised.sysusers
        DESTINATION lib/sysusers.d
        RENAME promised.conf)

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "promised: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; "
          "the package target needs -DCMAKE_INSTALL_PREFIX=/usr "
          "(see cmake/package.cmake)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME promised)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "promised")
set(CPACK_PACKAGE_CONTACT "promised maintainers <maintainers@promised.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "customer promise reminders and escalation for service businesses")
set(CPACK_PACKAGE_DESCRIPTION
"promised keeps each promise that staff make to a customer (owner, due time,
target) as a record, reminds the owner before it lapses and escalates to a
manager when it does. Messages go out by SMTP, webhooks and SMS gateways
from a durable outbox; iCalendar feeds can create promises. The daemon
serves one-click action links, an intake API, /healthz, /metrics and a
manager board over HTTP; promisectl is its command-line companion.")
# Every file below /usr (and /etc): CPack's default for DEB, stated because
# packaging/package_check.cmake relies on it.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME promised)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # promised_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CPACK_PACKAGE_CONTACT})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The library packages come from dpkg-shlibdeps on the two programs (the
# shlibs files of Debian 12 give names and minimum versions); the rest is
# what the programs use without linking it:
# - tzdata: sites name IANA time zones, read from /usr/share/zoneinfo;
# - systemd-sysusers (systemd, or the standalone build of it) creates the
#   service user in the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "tzdata, systemd | systemd-standalone-sysusers")

# Maintainer scripts and the conffiles list. CPack's DEB generator does not
# mark files under /etc as conffiles by itself (debhelper does, CPack does
# not), so the list is explicit; without it an upgrade would overwrite the
# operator's edited promised.yaml. STRICT_PERMISSION gives the scripts 0755
# and the list 0644 whatever their mode in the source tree.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm
    ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Refuse to package a build whose baked-in paths are not the package's, or
# a sanitizer build: cpack reads packaging/package_check.cmake before it
# installs anything, and every CPACK_* variable set here is visible there.
set(CPACK_PROMISED_BUILD_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PROMISED_BUILD_TYPE ${CMAKE_BUILD_TYPE})
set(CPACK_PROMISED_SANITIZE ${PROMISED_SANITIZE})
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/packaging/package_check.cmake)

include(CPack)
