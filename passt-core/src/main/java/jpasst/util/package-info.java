/**
 * Logging as passt logs ({@code Log}: standard error, a log file, the system logger).
 *
 * May use: sys.
 */
package jpasst.util;
