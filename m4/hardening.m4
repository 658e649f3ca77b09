# SPDX-License-Identifier: ISC
dnl hardening.m4 - compiler and linker hardening flags, each one tried with
dnl the compiler at hand (gcc or clang) and added only if it works and the
dnl user's CFLAGS/CPPFLAGS/LDFLAGS do not already choose otherwise (so
dnl dpkg-buildflags output, -fno-stack-protector or -U_FORTIFY_SOURCE given
dnl by the user win).  Adds to HARDEN_CFLAGS and HARDEN_LDFLAGS.

dnl POSTERN_TRY_CFLAG(FLAG): add FLAG to HARDEN_CFLAGS if it compiles cleanly.
AC_DEFUN([POSTERN_TRY_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <string.h>]], [[char b[8]; strcpy(b, "x"); return b[0];]])],
    [AC_MSG_RESULT([yes]); HARDEN_CFLAGS="$HARDEN_CFLAGS $1"], [AC_MSG_RESULT([no])])
  CFLAGS=$save_CFLAGS])

dnl POSTERN_TRY_LDFLAG(FLAG): add FLAG to HARDEN_LDFLAGS if a program links with it.
AC_DEFUN([POSTERN_TRY_LDFLAG], [
  AC_MSG_CHECKING([whether $CC links with $1])
  save_LDFLAGS=$LDFLAGS
  LDFLAGS="$LDFLAGS -Werror $1"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([], [[return 0;]])],
    [AC_MSG_RESULT([yes]); HARDEN_LDFLAGS="$HARDEN_LDFLAGS $1"], [AC_MSG_RESULT([no])])
  LDFLAGS=$save_LDFLAGS])

dnl POSTERN_HARDENING(SANITIZERS): SANITIZERS is "yes" for the sanitizer
dnl build, which gets no _FORTIFY_SOURCE (ASan checks those calls itself).
AC_DEFUN([POSTERN_HARDENING], [
  HARDEN_CFLAGS=
  HARDEN_LDFLAGS=
  user_flags="$CPPFLAGS $CFLAGS"
  AS_CASE([$user_flags],
    [*-fstack-protector*|*-fno-stack-protector*], [],
    [POSTERN_TRY_CFLAG([-fstack-protector-strong])])
  AS_CASE([$user_flags],
    [*_FORTIFY_SOURCE*], [],
    [AS_IF([test "x$1" != xyes],
      [AS_CASE([" $CFLAGS "],
        [*" -O0 "*|*" -O "*], [],
        [*" -O"[[1-3sgz]]*|*" -Ofast "*], [POSTERN_TRY_CFLAG([-D_FORTIFY_SOURCE=2])])])])
  AS_CASE(["$user_flags $LDFLAGS"],
    [*-no-pie*|*-fno-PIE*|*-fno-pie*|*-fPIC*|*-fpic*], [],
    [POSTERN_TRY_CFLAG([-fPIE])
     AS_CASE([$HARDEN_CFLAGS], [*-fPIE*], [POSTERN_TRY_LDFLAG([-pie])])])
  AS_CASE([$LDFLAGS],
    [*norelro*|*lazy*], [],
    [POSTERN_TRY_LDFLAG([-Wl,-z,relro])
     POSTERN_TRY_LDFLAG([-Wl,-z,now])])
])
